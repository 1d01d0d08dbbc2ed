import type { Cluster, Redis } from 'ioredis';
import { RedisKeys } from '../../keys/RedisKeys.js';
import { decodeCheckpoint, encodeCheckpoint, type Checkpoint } from './Checkpoint.js';

/** Reads and writes the checkpoint of one source in Redis. */
export class CheckpointStore {
  readonly key: string;

  constructor(
    private readonly redis: Redis | Cluster,
    readonly source: string,
  ) {
    this.key = RedisKeys.checkpoint(source);
  }

  async read(): Promise<Checkpoint | null> {
    const raw = await this.redis.get(this.key);
    return raw === null ? null : decodeCheckpoint(raw, this.key);
  }

  async write(cp: Checkpoint): Promise<void> {
    await this.redis.set(this.key, encodeCheckpoint(cp));
  }
}
