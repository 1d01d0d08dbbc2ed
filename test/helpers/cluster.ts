import { execFileSync } from 'node:child_process';
import { Cluster } from 'ioredis';
import { ROOT } from './cli.js';

/** Where the local cluster of scripts/cluster.sh listens. */
export interface TestCluster {
  /** `redis://127.0.0.1:7001`: the first node, a seed for clients and the URL for `redis.url`. */
  readonly url: string;
  /** Every node, `HOST:PORT`. */
  readonly nodes: readonly string[];
}

/**
 * Starts (or reuses) the three-master cluster of scripts/cluster.sh and
 * returns its coordinates (`cluster.sh env`). Idempotent; left running
 * afterwards, like the other test services.
 */
export function startTestCluster(): TestCluster {
  execFileSync('bash', ['scripts/cluster.sh', 'up'], { cwd: ROOT, stdio: 'inherit' });
  const out = execFileSync('bash', ['scripts/cluster.sh', 'env'], { cwd: ROOT, encoding: 'utf8' });
  const env = new Map(
    [...out.matchAll(/^export ([A-Z0-9_]+)='(.*)'$/gm)].map((m) => [m[1], m[2] ?? '']),
  );
  const url = env.get('SLUICE_TEST_CLUSTER_URL');
  const nodes = env.get('SLUICE_TEST_CLUSTER_NODES');
  if (url === undefined || nodes === undefined) {
    throw new Error(`unexpected output from cluster.sh env:\n${out}`);
  }
  return { url, nodes: nodes.split(',') };
}

/** A Cluster client of the test cluster, auto-pipelined (helpers send many one-key commands). */
export function clusterClient(cluster: TestCluster): Cluster {
  const client = new Cluster(
    cluster.nodes.map((n) => {
      const [host, port] = n.split(':');
      return { host: host ?? '127.0.0.1', port: Number(port) };
    }),
    { enableAutoPipelining: true, redisOptions: { maxRetriesPerRequest: 1 } },
  );
  client.on('error', () => undefined);
  return client;
}
