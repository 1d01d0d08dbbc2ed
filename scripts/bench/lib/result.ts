// What a scenario hands the runner: rows of the summary table plus details
// for docs/benchmarks.md. Written as JSON to $BENCH_RESULT_FILE (or printed).
import { writeFileSync } from 'node:fs';

export interface ResultRow {
  /** e.g. "replay throughput". */
  readonly scenario: string;
  /** What was measured, e.g. "rows/s until acknowledged". */
  readonly metric: string;
  /** Sluice's number, formatted. */
  readonly sluice: string;
  /** What it was compared with in the same run, formatted. */
  readonly compared: string;
  readonly target: string;
  /** null when the row has no target. */
  readonly met: boolean | null;
}

export interface ScenarioResult {
  readonly scenario: string;
  readonly rows: readonly ResultRow[];
  /** Markdown paragraphs/lists: method, raw runs, caveats. */
  readonly details: readonly string[];
  readonly seconds: number;
}

/** Runs a scenario's main, writes its result, exits 0, or 1 if it failed to run. */
export function runScenario(
  name: string,
  main: () => Promise<Omit<ScenarioResult, 'scenario' | 'seconds'>>,
): void {
  const started = Date.now();
  main().then(
    (r) => {
      const result: ScenarioResult = {
        scenario: name,
        ...r,
        seconds: (Date.now() - started) / 1000,
      };
      const out = process.env.BENCH_RESULT_FILE;
      if (out) writeFileSync(out, JSON.stringify(result, null, 2));
      else console.log(JSON.stringify(result, null, 2));
      process.exit(0);
    },
    (err: unknown) => {
      console.error(`scenario ${name} failed to run:`, err);
      process.exit(1);
    },
  );
}

/** Progress on stderr (stdout of a scenario is free for results). */
export function progress(scenario: string, text: string): void {
  process.stderr.write(`  [${scenario}] ${text}\n`);
}
