import type { Redis } from 'ioredis';

/**
 * Per chunk the client's current socket received while `run` ran: whether
 * ioredis's parser had it before the socket's `push` returned.
 */
export async function deliveries(client: Redis, run: () => Promise<unknown>): Promise<boolean[]> {
  const stream = client.stream;
  const inline: boolean[] = [];
  let seen = false;
  const spy = (): void => {
    seen = true;
  };
  // Prepended like ioredis's own listener, so it adds no `on('data')` of its own.
  stream.prependListener('data', spy);
  const push = stream.push.bind(stream);
  stream.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
    seen = false;
    const more = push(chunk, encoding);
    if (chunk !== null) inline.push(seen);
    return more;
  };
  try {
    await run();
  } finally {
    stream.removeListener('data', spy);
    Reflect.deleteProperty(stream, 'push'); // Readable's own again
  }
  return inline;
}

/** `deliveries` of `n` PINGs on `client` (each answered PONG, one reply per chunk). */
export async function pingDeliveries(client: Redis, n: number): Promise<boolean[]> {
  return deliveries(client, async () => {
    for (let i = 0; i < n; i++) {
      if ((await client.ping()) !== 'PONG') throw new Error('PING: no PONG');
    }
  });
}
