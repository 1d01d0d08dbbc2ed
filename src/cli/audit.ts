import type { Command } from 'commander';
import { redactUrl } from '../config/redact.js';
import type { SluiceConfig } from '../config/schema.js';
import {
  CacheAuditor,
  type AuditCounts,
  type AuditReport,
  type AuditResource,
} from '../cache/CacheAuditor.js';
import { SluiceError } from '../errors/index.js';
import { KeyTemplate } from '../keys/KeyTemplate.js';
import { createPool } from '../db/createPool.js';
import { withRedis } from './clients.js';
import { commandContext, type GlobalOptions } from './context.js';
import { examples, positiveInt, quiet, usageError, writeJson, writeLines } from './output.js';

interface AuditOptions extends GlobalOptions {
  readonly sample?: number;
  readonly json?: boolean;
}

const CONCURRENCY = 4;

export function registerAudit(program: Command): void {
  program
    .command('audit')
    .description('compare the cached entries of the API resources in Redis with the database')
    .option('--sample <n>', 'audit at most N entries per resource', positiveInt)
    .option('--json', 'print one JSON object')
    .addHelpText(
      'after',
      examples('sluice audit', 'sluice audit --sample 10000 --json') +
        '\n\nExit code 1 when an entry is stale (a different or deleted row) or negative while its row exists.\n' +
        'Only single-placeholder resource keys are audited; list keys and other templates are counted and skipped.',
    )
    .action(async (_opts: object, cmd: Command) => {
      await audit(cmd.optsWithGlobals<AuditOptions>());
    });
}

async function audit(opts: AuditOptions): Promise<void> {
  const { config, logger } = commandContext(opts, 'stderr');
  quiet(logger);
  const resources = auditResources(config);
  if (resources.length === 0) throw usageError('api.resources is empty: nothing to audit');

  const templates = (keys: Iterable<string>): KeyTemplate[] =>
    [...new Set(keys)].map((k) => KeyTemplate.parse(k));
  // The cache module's pool: rows load exactly as the cache loads them.
  const db = createPool(
    config.database.url,
    { ...config.database.pool, connectionLimit: CONCURRENCY, maxIdle: CONCURRENCY },
    logger,
  );
  let report: AuditReport;
  try {
    report = await withRedis(config.redis, (redis) =>
      new CacheAuditor({
        redis,
        db,
        resources,
        otherTemplates: templates(config.rules.flatMap((r) => r.keys)),
        listTemplates: templates(
          Object.values(config.api.resources).flatMap((r) =>
            r.list === undefined ? [] : [r.list.key],
          ),
        ),
        ...(opts.sample === undefined ? {} : { sample: opts.sample }),
        concurrency: CONCURRENCY,
        logger,
      }).run(),
    );
  } catch (err) {
    if (err instanceof SluiceError) throw err;
    throw new SluiceError(
      'E_INTERNAL',
      `audit failed (database ${redactUrl(config.database.url)}): ${(err as Error).message}`,
      { cause: err },
    );
  } finally {
    await db.end().catch(() => undefined);
  }

  if (opts.json === true) writeJson(report);
  else writeLines(formatAudit(report));
  if (report.total.stale > 0 || report.total.negativeButPresent > 0) process.exitCode = 1;
}

/** The API resources with their key template (single placeholder: validated by the config). */
export function auditResources(config: SluiceConfig): AuditResource[] {
  return Object.entries(config.api.resources)
    .map(([name, r]) => ({
      name,
      table: r.table,
      key: KeyTemplate.parse(r.key, `api.resources.${name}.key`),
    }))
    .filter((r) => new Set(r.key.columns).size === 1);
}

const COLUMNS: readonly (keyof AuditCounts)[] = [
  'checked',
  'fresh',
  'stale',
  'negativeButPresent',
  'presentButMissing',
  'foreign',
  'lists',
  'skipped',
];

/** A table of counts per resource, a total, and a few offending keys. */
export function formatAudit(report: AuditReport): string[] {
  const rows: string[][] = [['resource', 'table', ...COLUMNS]];
  for (const [name, c] of Object.entries(report.resources)) {
    rows.push([name, c.table, ...COLUMNS.map((k) => String(c[k]))]);
  }
  rows.push(['total', '', ...COLUMNS.map((k) => String(report.total[k]))]);
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  const lines = rows.map((r) =>
    r
      .map((cell, i) => (i < 2 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
  for (const e of report.examples) lines.push(`${e.kind === 'value' ? 'stale' : e.kind}: ${e.key}`);
  const bad = report.total.stale + report.total.negativeButPresent;
  lines.push(
    `${bad === 0 ? 'consistent' : `${bad} inconsistent entr${bad === 1 ? 'y' : 'ies'}`}: ${report.total.checked} checked in ${(report.elapsedMs / 1000).toFixed(2)} s`,
  );
  return lines;
}
