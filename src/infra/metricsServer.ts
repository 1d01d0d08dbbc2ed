import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

/**
 * A minimal HTTP endpoint for the daemon: `GET /metrics` (Prometheus text)
 * and `GET /healthz`. With `token`, /metrics requires `Authorization: Bearer <token>`.
 */
export async function startMetricsServer(
  registry: Registry,
  listen: { host: string; port: number },
  token?: string,
): Promise<{ address: string; close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    if (req.method === 'GET' && path === '/metrics') {
      if (token !== undefined && req.headers.authorization !== `Bearer ${token}`) {
        res
          .writeHead(401, { 'content-type': 'application/json' })
          .end('{"error":{"code":"E_UNAUTHORIZED","message":"bearer token required"}}');
        return;
      }
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
      return;
    }
    res
      .writeHead(404, { 'content-type': 'application/json' })
      .end('{"error":{"code":"E_NOT_FOUND","message":"no such route"}}');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  const addr = server.address();
  const address =
    typeof addr === 'object' && addr ? `http://${addr.address}:${addr.port}` : String(addr);
  return {
    address,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
