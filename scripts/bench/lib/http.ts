// A keep-alive HTTP client for polling the read API in a tight loop.
import { Agent, request } from 'node:http';
import { pollUntil } from './procs.js';

export interface HttpAnswer {
  readonly status: number;
  readonly xCache: string | undefined;
  readonly body: string;
}

/** One connection, reused: each poll costs a round trip, not a handshake. */
export function httpClient(base: string): {
  get(path: string, headers?: Readonly<Record<string, string>>): Promise<HttpAnswer>;
  close(): void;
} {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  return {
    get(path, headers = {}) {
      return new Promise((resolve, reject) => {
        const req = request(`${base}${path}`, { agent, headers }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => {
            const x = res.headers['x-cache'];
            resolve({ status: res.statusCode ?? 0, xCache: Array.isArray(x) ? x[0] : x, body });
          });
        });
        req.on('error', reject);
        req.end();
      });
    },
    close() {
      agent.destroy();
    },
  };
}

/** Waits until `sluice serve` at `base` is ready and (if asked) serving from L1. */
export async function waitReady(base: string, l1: boolean, timeoutMs = 20_000): Promise<void> {
  const client = httpClient(base);
  try {
    await pollUntil(
      async () => {
        try {
          const r = await client.get('/readyz');
          const o = JSON.parse(r.body) as { l1?: boolean };
          return r.status === 200 && (!l1 || o.l1 === true) ? true : undefined;
        } catch {
          return undefined;
        }
      },
      `${base}/readyz${l1 ? ' with l1: true' : ''}`,
      timeoutMs,
      50,
    );
  } finally {
    client.close();
  }
}
