// Summarises a V8 CPU profile (node --cpu-prof): self time by function and
// by package, to show what bounds a scenario.
//   node --import tsx scripts/bench/profileSummary.ts FILE.cpuprofile [TOP [FRAME...]]
// FRAMEs are function names whose inclusive time is printed too.
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Self time (µs) per node id. */
function selfTimes(p: Profile): Map<number, number> {
  const self = new Map<number, number>();
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  return self;
}

/** Which package a script URL belongs to. */
export function packageOf(url: string): string {
  if (url === '') return '(native/vm)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm?.[1]) return nm[1];
  if (url.startsWith('node:')) return 'node core';
  const m = /\/(dist|src|scripts)\/(.*)$/.exec(url);
  if (m?.[2]) return `sluice ${m[2].split('/').slice(0, -1).join('/') || m[2]}`;
  return url;
}

/** Time (µs) of samples whose stack contains a frame named `name` (each sample counted once). */
export function inclusive(p: Profile, names: readonly string[]): Map<string, number> {
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const out = new Map<string, number>(names.map((n) => [n, 0]));
  p.samples.forEach((id, i) => {
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const fn = byId.get(cur)?.callFrame.functionName ?? '';
      if (out.has(fn)) seen.add(fn);
    }
    for (const fn of seen) out.set(fn, (out.get(fn) ?? 0) + (p.timeDeltas[i] ?? 0));
  });
  return out;
}

/**
 * Where a daemon's time goes, by pipeline stage: each sample is charged to
 * the first stage (in this order) that has a frame on its stack.
 */
const PHASES: ReadonlyArray<[string, (url: string, fn: string) => boolean]> = [
  ['start-up (module loading)', (url) => url.startsWith('node:internal/modules/')],
  [
    'sink (before issue 11: RedisSink; now batcher, transport, tracker, writer, publisher, dispatcher)',
    (url) =>
      url.includes('/sink/RedisSink.') ||
      /\/pipeline\/(batch|transport|checkpoint)\//.test(url) ||
      url.includes('/pipeline/Dispatcher.') ||
      url.includes('/pipeline/DeliveryStages.') ||
      url.includes('/bus/BusPublisher.') ||
      url.includes('/bus/codec.'),
  ],
  [
    'source → mapper (BinlogSource.dispatch, Invalidator.onEvent, KeyMapper)',
    (url) =>
      url.includes('/source/BinlogSource.') ||
      url.includes('/source/BinlogStream.') ||
      url.includes('/pipeline/Invalidator.') ||
      url.includes('/mapping/KeyMapper.'),
  ],
  [
    'binlog decoding (zongji, mysql2)',
    (url) => url.includes('/@vlasky/zongji/') || url.includes('/mysql2/'),
  ],
  ['redis replies (ioredis)', (url) => url.includes('/ioredis/')],
  ['garbage collector', (_url, fn) => fn === '(garbage collector)'],
  ['idle', (_url, fn) => fn === '(idle)'],
];

export function phases(p: Profile): Map<string, number> {
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const out = new Map<string, number>([
    ...PHASES.map(([name]) => [name, 0] as [string, number]),
    ['other', 0],
  ]);
  p.samples.forEach((id, i) => {
    let best = PHASES.length;
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const cf = byId.get(cur)?.callFrame;
      if (cf === undefined) continue;
      const k = PHASES.findIndex(([, test]) => test(cf.url, cf.functionName));
      if (k >= 0 && k < best) best = k;
    }
    const name = PHASES[best]?.[0] ?? 'other';
    out.set(name, (out.get(name) ?? 0) + (p.timeDeltas[i] ?? 0));
  });
  return out;
}

export function summarise(p: Profile, top = 25, frames: readonly string[] = []): string {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = selfTimes(p);
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const byFn = new Map<string, number>();
  const byPkg = new Map<string, number>();
  for (const [id, us] of self) {
    const n = byId.get(id);
    if (n === undefined) continue;
    const { functionName, url, lineNumber } = n.callFrame;
    const file = url.split('/').slice(-1)[0] ?? url;
    const key = `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`;
    byFn.set(key, (byFn.get(key) ?? 0) + us);
    const pkg =
      functionName === '(garbage collector)'
        ? '(garbage collector)'
        : functionName === '(idle)'
          ? '(idle)'
          : packageOf(url);
    byPkg.set(pkg, (byPkg.get(pkg) ?? 0) + us);
  }
  const pct = (us: number): string => `${((100 * us) / total).toFixed(1).padStart(5)} %`;
  const lines = [`profile: ${(total / 1e6).toFixed(2)} s sampled`, '', 'time by pipeline stage:'];
  for (const [k, v] of phases(p))
    lines.push(`  ${pct(v)}  ${(v / 1e3).toFixed(0).padStart(5)} ms  ${k}`);
  lines.push('', 'self time by package:');
  for (const [k, v] of [...byPkg].sort((a, b) => b[1] - a[1]).slice(0, 15))
    lines.push(`  ${pct(v)}  ${k}`);
  lines.push('', `top ${top} functions by self time:`);
  for (const [k, v] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top))
    lines.push(`  ${pct(v)}  ${k}`);
  if (frames.length > 0) {
    lines.push('', 'inclusive time of frames:');
    for (const [k, v] of inclusive(p, frames)) lines.push(`  ${pct(v)}  ${k}`);
  }
  return lines.join('\n');
}

if (process.argv[1]?.endsWith('profileSummary.ts')) {
  const [file, top, ...frames] = process.argv.slice(2);
  if (!file) {
    console.error('usage: profileSummary.ts FILE.cpuprofile [TOP]');
    process.exit(2);
  }
  console.log(
    summarise(JSON.parse(readFileSync(file, 'utf8')) as Profile, Number(top ?? 25), frames),
  );
}
