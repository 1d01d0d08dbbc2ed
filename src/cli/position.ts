import type { Command } from 'commander';
import { parseStartFrom } from '../config/schema.js';
import { encodeCheckpoint, type Checkpoint } from '../pipeline/checkpoint/Checkpoint.js';
import { CheckpointStore } from '../pipeline/checkpoint/CheckpointStore.js';
import { readStatus } from '../pipeline/checkpoint/StatusRecord.js';
import { formatPosition, type BinlogPosition } from '../pipeline/position.js';
import { locateGtid } from '../source-admin/locateGtid.js';
import { SluiceError } from '../errors/index.js';
import { describeServer } from '../pipeline/ServerIdentity.js';
import { withRedis, withServer } from './clients.js';
import { commandContext, type GlobalOptions } from './context.js';
import { examples, quiet, usageError, writeJson, writeLines } from './output.js';

interface ShowOptions extends GlobalOptions {
  readonly json?: boolean;
}

interface SetOptions extends GlobalOptions {
  readonly force?: boolean;
  readonly json?: boolean;
}

/** Event types that only occur inside a transaction: a checkpoint there would lose rows. */
const INSIDE_TRANSACTION =
  /^(Table_map|Write_rows|Update_rows|Delete_rows|Annotate_rows|Xid|Rows_query)/i;

export function registerPosition(program: Command): void {
  const position = program
    .command('position')
    .description("read or move the daemon's stored checkpoint (sluice:checkpoint:{source.name})")
    .addHelpText(
      'after',
      examples('sluice position show --json', 'sluice position set binlog.000003:1234'),
    );

  position
    .command('show')
    .description('print the stored checkpoint')
    .option('--json', 'print {"source","key","checkpoint":{"file","pos","gtid","at"}|null}')
    .addHelpText(
      'after',
      examples('sluice position show', 'sluice position show --json --config /etc/sluice.yaml'),
    )
    .action(async (_opts: object, cmd: Command) => {
      await showPosition(cmd.optsWithGlobals<ShowOptions>());
    });

  position
    .command('set')
    .description('move the stored checkpoint (the daemon resumes there on its next start)')
    .argument(
      '<position>',
      'FILE:POS (e.g. binlog.000003:1234) or gtid:SET (MariaDB, e.g. gtid:0-1-42)',
    )
    .option('--force', 'even while a daemon runs for this source, or inside a transaction')
    .option('--json', 'print {"source","key","previous","checkpoint"}')
    .addHelpText(
      'after',
      examples('sluice position set binlog.000003:1234', 'sluice position set gtid:0-1-42') +
        '\n\nThe position must be on the server (SHOW BINARY LOGS) and at an event boundary.\n' +
        'Refused while a daemon holds the source (its status record is fresh) unless --force.',
    )
    .action(async (text: string, _opts: object, cmd: Command) => {
      await setPosition(text, cmd.optsWithGlobals<SetOptions>());
    });
}

async function showPosition(opts: ShowOptions): Promise<void> {
  const { config, logger } = commandContext(opts, 'stderr');
  quiet(logger);
  await withRedis(config.redis, async (redis) => {
    const store = new CheckpointStore(redis, config.source.name);
    const cp = await store.read();
    if (opts.json === true) {
      writeJson({
        source: config.source.name,
        key: store.key,
        checkpoint: cp && checkpointJson(cp),
      });
      return;
    }
    if (cp === null) {
      process.stderr.write(
        `no checkpoint stored for source ${config.source.name} (${store.key})\n`,
      );
      return;
    }
    writeLines(describeCheckpoint(cp, store.key));
  });
}

async function setPosition(text: string, opts: SetOptions): Promise<void> {
  const start = parseStartFrom(text.trim(), 'position');
  if (start.kind !== 'position' && start.kind !== 'gtid') {
    throw usageError(`position: "${text}" is not FILE:POS or gtid:SET`);
  }
  const { config, logger } = commandContext(opts, 'stderr');
  quiet(logger);
  const force = opts.force === true;

  await withRedis(config.redis, async (redis) => {
    const daemon = await readStatus(redis, config.source.name);
    if (daemon !== null && !force) {
      throw new SluiceError(
        'E_SOURCE_BUSY',
        `a daemon is running for source ${config.source.name} (instance ${daemon.instance}, pid ${daemon.pid} on ${daemon.host}); ` +
          'stop it first, or pass --force',
        { details: { instance: daemon.instance } },
      );
    }

    const { at, gtid, identity } = await withServer(config.source.url, async (server) => {
      let at: BinlogPosition;
      let gtid: string | undefined;
      if (start.kind === 'gtid') {
        at = await locateGtid(server, start.gtid);
        gtid = start.gtid;
      } else {
        at = start.position;
        await server.requireOnServer(at);
        const event = await server.eventAt(at);
        if (event && INSIDE_TRANSACTION.test(event.type) && !force) {
          throw new SluiceError(
            'E_POSITION_INVALID',
            `${formatPosition(at)} is inside a transaction (a ${event.type} event starts there): ` +
              'the daemon would skip its rows. Give a transaction boundary, or pass --force',
            { details: { position: formatPosition(at), event: event.type } },
          );
        }
        gtid = await server.gtidAt(at);
      }
      // FILE:POS means something on this server only: the daemon checks it.
      return { at, gtid, identity: (await server.probe()).identity };
    });

    const store = new CheckpointStore(redis, config.source.name);
    const previous = await store.read().catch(() => null);
    const cp: Checkpoint = { position: at, gtid, server: identity, at: new Date().toISOString() };
    await store.write(cp);
    if (daemon !== null) {
      process.stderr.write(
        `warning: daemon ${daemon.instance} is running: it overwrites the checkpoint on its next commit; restart it to resume from ${formatPosition(at)}\n`,
      );
    }
    if (opts.json === true) {
      writeJson({
        source: config.source.name,
        key: store.key,
        previous: previous && checkpointJson(previous),
        checkpoint: checkpointJson(cp),
      });
      return;
    }
    writeLines([
      `checkpoint of source ${config.source.name} set to ${formatPosition(at)}${gtid === undefined ? '' : ` (gtid ${gtid})`}` +
        `; was ${previous === null ? 'unset' : formatPosition(previous.position)}`,
    ]);
  });
}

/** The contract's JSON shape of a checkpoint. */
function checkpointJson(cp: Checkpoint): unknown {
  return JSON.parse(encodeCheckpoint(cp));
}

function describeCheckpoint(cp: Checkpoint, key: string): string[] {
  return [
    `checkpoint: ${formatPosition(cp.position)}`,
    ...(cp.gtid === undefined ? [] : [`gtid:       ${cp.gtid}`]),
    ...(cp.server === undefined ? [] : [`server:     ${describeServer(cp.server)}`]),
    `written:    ${cp.at ? cp.at : 'unknown'}`,
    `key:        ${key}`,
  ];
}
