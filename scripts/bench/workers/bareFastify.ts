// The ceiling of the read-API scenario: a bare fastify route that returns
// the same JSON text (and the same headers) as `sluice serve` does for each
// id, from a Map: no validation, no cache, no metrics hook.
//   node --import tsx scripts/bench/workers/bareFastify.ts PORT BODIES.json
// Prints {"ready":true} when listening.
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';

const [port, file] = process.argv.slice(2);
if (!port || !file) {
  console.error('usage: bareFastify.ts PORT BODIES.json');
  process.exit(2);
}
const bodies = new Map(
  Object.entries(JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>),
);
const app = Fastify();
app.get<{ Params: { id: string } }>('/v1/items/:id', (req, reply) => {
  const body = bodies.get(req.params.id);
  if (body === undefined)
    return reply.code(404).send({ error: { code: 'E_NOT_FOUND', message: 'no such item' } });
  return reply.header('x-cache', 'l1').type('application/json; charset=utf-8').send(body);
});
await app.listen({ host: '127.0.0.1', port: Number(port) });
console.log(JSON.stringify({ ready: true }));
process.on('SIGTERM', () => {
  void app.close().then(() => process.exit(0));
});
