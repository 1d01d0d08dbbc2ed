import { Command } from 'ioredis';

/**
 * A command whose RESP bytes its subclass builds in one pass (a string, made
 * UTF-8 by Buffer.from's default) and which is sent as they are: ioredis
 * would handle every argument on its own (a type check, a
 * `Buffer.byteLength` and a string piece each) and keep the rope of pieces
 * alive until the reply. The bytes are flattened into one Buffer once: the
 * command lives until its reply, and a rope would survive young-generation
 * collections piece by piece.
 */
export abstract class EncodedCommand extends Command {
  protected constructor(
    name: string,
    private readonly wire: Buffer,
  ) {
    super(name, []);
  }

  override toWritable(): Buffer {
    return this.wire;
  }
}

/** `value` as a RESP bulk string. */
export function bulk(value: string): string {
  return `$${Buffer.byteLength(value)}\r\n${value}\r\n`;
}
