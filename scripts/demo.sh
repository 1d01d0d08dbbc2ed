#!/usr/bin/env bash
# The Sluice demo: `npm run demo` (or `bash scripts/demo.sh [--once]`).
#
# What it does, start to finish:
#   1. builds Sluice if dist/ is missing or older than the sources;
#   2. starts the project's own MariaDB (binlog on, 127.0.0.1:3307) and Redis
#      (127.0.0.1:6380) with scripts/services.sh; nothing else is touched;
#   3. loads the demo schema config/schema.sql: app.users and app.messages;
#   4. starts the daemon (`sluice run`: binlog → Redis deletions) and the read
#      API (`sluice serve`: rows over HTTP through the two-level cache), both
#      with config/sluice.yaml, and waits until the API is ready;
#   5. shows a read twice (first from the database, then from the cache), then
#      changes the row with plain SQL, as any other program could, and measures
#      how long until the API answers with the new value; same for a list;
#   6. keeps both running and prints their logs until Ctrl-C, which stops
#      both cleanly. With --once it stops after step 5 (used by the tests).
#
# Environment: SLUICE_DEMO_LISTEN (default 127.0.0.1:8080) is where the API
# listens. Logs are kept in .data/demo/ (git-ignored).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ONCE=0
for arg in "$@"; do
  case "$arg" in
    --once) ONCE=1 ;;
    -h | --help)
      sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "demo.sh: unknown argument '$arg' (usage: bash scripts/demo.sh [--once])" >&2
      exit 2
      ;;
  esac
done

CONFIG=config/sluice.yaml
LISTEN="${SLUICE_DEMO_LISTEN:-127.0.0.1:8080}"
API="http://$LISTEN"
LOGS="${SLUICE_DATA_DIR:-$ROOT/.data}/demo"
RUN_LOG="$LOGS/run.log"
SERVE_LOG="$LOGS/serve.log"
# The demo's MariaDB and Redis (the ports config/sluice.yaml points at).
# SLUICE_MARIADB_PORT / SLUICE_REDIS_PORT move both (as for scripts/services.sh);
# the sluice processes then get matching URLs through the environment.
MARIADB_PORT="${SLUICE_MARIADB_PORT:-3307}"
REDIS_PORT="${SLUICE_REDIS_PORT:-6380}"
MARIADB=(mariadb --no-defaults -h127.0.0.1 -P"$MARIADB_PORT" --default-character-set=utf8mb4)
REDIS=(redis-cli -h 127.0.0.1 -p "$REDIS_PORT")
if [[ $MARIADB_PORT != 3307 || $REDIS_PORT != 6380 ]]; then
  export SLUICE_SOURCE_URL="mysql://sluice:sluice-secret@127.0.0.1:$MARIADB_PORT/app"
  export SLUICE_DATABASE_URL="mysql://app:app-secret@127.0.0.1:$MARIADB_PORT/app"
  export SLUICE_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
fi

if [[ -t 1 ]]; then
  B=$'\e[1m' D=$'\e[2m' G=$'\e[32m' C=$'\e[36m' R=$'\e[0m'
else
  B='' D='' G='' C='' R=''
fi
step() { printf '\n%s▸ %s%s\n' "$B" "$*" "$R"; }
say() { printf '  %s\n' "$*"; }
cmd() { printf '  %s$ %s%s\n' "$C" "$*" "$R"; }
die() {
  printf '\ndemo.sh: %s\n' "$*" >&2
  exit 1
}

# Small Node helpers (Node is already required by Sluice itself):
#   follow FILE LABEL…   print new lines of each log, pretty and prefixed
#   poll                 run $DEMO_SQL, then GET $DEMO_URL until the JSON
#                        field $DEMO_PATH equals $DEMO_EXPECT; print the delay
#   lastrow FILE TABLE   the daemon's last log line for a row of TABLE
read -r -d '' HELPER <<'JS' || true
import { closeSync, openSync, readSync, readFileSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';

const [mode, ...args] = process.argv.slice(1);
const LEVELS = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

function pretty(line) {
  let o;
  try {
    o = JSON.parse(line);
  } catch {
    return line;
  }
  const { level, time, msg, name, pid, hostname, component, ...rest } = o;
  const t = typeof time === 'string' ? time.slice(11, 23) : '';
  const lvl = String(LEVELS[level] ?? level ?? '').toUpperCase().padEnd(5);
  const fields = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${t} ${lvl} ${component ? `${component}: ` : ''}${msg ?? ''}${fields ? `  ${fields}` : ''}`;
}

if (mode === 'follow') {
  const logs = [];
  for (let i = 0; i < args.length; i += 2) {
    logs.push({ file: args[i], label: args[i + 1], offset: statSync(args[i]).size, rest: '' });
  }
  setInterval(() => {
    for (const log of logs) {
      const size = statSync(log.file).size;
      if (size <= log.offset) continue;
      const buf = Buffer.alloc(size - log.offset);
      const fd = openSync(log.file, 'r');
      readSync(fd, buf, 0, buf.length, log.offset);
      closeSync(fd);
      log.offset = size;
      const lines = (log.rest + buf.toString('utf8')).split('\n');
      log.rest = lines.pop() ?? '';
      for (const line of lines) if (line) console.log(`${log.label} ${pretty(line)}`);
    }
  }, 200);
} else if (mode === 'poll') {
  const { DEMO_SQL, DEMO_URL, DEMO_PATH, DEMO_EXPECT, DEMO_MARIADB } = process.env;
  const get = (body) => DEMO_PATH.split('.').reduce((v, k) => (v == null ? v : v[k]), body);
  // Warm up the HTTP client (its first request costs ~100 ms of set-up) so
  // the delay printed below is Sluice's, not the client's.
  for (let i = 0; i < 3; i++) await (await fetch(DEMO_URL)).arrayBuffer();
  const [client, ...clientArgs] = DEMO_MARIADB.split('\n');
  execFileSync(client, [...clientArgs, '-e', DEMO_SQL], { stdio: 'inherit' });
  // The clock starts when the write has committed (the client returned).
  const t0 = performance.now();
  for (let stale = 0; ; stale++) {
    const res = await fetch(DEMO_URL);
    const body = await res.json();
    if (String(get(body)) === DEMO_EXPECT) {
      const ms = (performance.now() - t0).toFixed(1);
      const before = stale === 0 ? 'the first read after it' : `${stale} earlier read${stale === 1 ? '' : 's'} still saw the old value`;
      console.log(`  fresh read ${ms} ms after the COMMIT (${before}; X-Cache: ${res.headers.get('x-cache')})`);
      break;
    }
    if (performance.now() - t0 > 15000) {
      console.log(`  still stale after 15 s: ${JSON.stringify(body).slice(0, 200)}`);
      process.exit(1);
    }
    await new Promise((r) => setTimeout(r, 1));
  }
} else if (mode === 'lastrow') {
  const [file, table] = args;
  const rows = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"msg":"row"') && l.includes(`"table":"${table}"`));
  const last = rows.length > 0 ? JSON.parse(rows[rows.length - 1]) : null;
  console.log(
    last === null
      ? '  (the daemon log has no row line yet)'
      : `  daemon log: ${last.kind} on ${last.table} → deleted ${last.keys.join(', ')} and told every API process to drop them`,
  );
}
JS
helper() { node --input-type=module -e "$HELPER" "$@"; }

# Prints a GET's status, X-Cache and body (shortened), like a terse `curl -i`.
show_get() { # path
  local headers body status xcache
  headers="$(mktemp)"
  body="$(curl -sS -D "$headers" "$API$1")" || die "GET $1 failed"
  status="$(head -n1 "$headers" | tr -d '\r' | cut -d' ' -f2)"
  xcache="$(tr -d '\r' <"$headers" | sed -n 's/^[Xx]-[Cc]ache: //p')"
  rm -f "$headers"
  cmd "curl -i $API$1"
  printf '  HTTP %s   %sX-Cache: %s%s   %s\n' "$status" "$G" "${xcache:-(none)}" "$R" \
    "${body:0:150}$([[ ${#body} -gt 150 ]] && echo '…')"
}

# ---------------------------------------------------------------- processes

RUN_PID='' SERVE_PID='' FOLLOW_PID=''
stopping=0
cleanup() {
  local code=$? pid
  ((stopping == 0)) || return 0
  stopping=1
  if [[ -n $SERVE_PID || -n $RUN_PID ]]; then
    step "Stopping sluice serve and sluice run (SIGTERM: each finishes its work and exits)"
    for pid in $SERVE_PID $RUN_PID; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in $SERVE_PID $RUN_PID; do
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      if kill -0 "$pid" 2>/dev/null; then
        say "pid $pid did not stop within 10 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        code=1
      fi
    done
    # Let the log follower print their last lines (it polls every 200 ms).
    [[ -z $FOLLOW_PID ]] || sleep 0.3
    say "stopped. Logs: $RUN_LOG, $SERVE_LOG"
    say "MariaDB and Redis keep running: 'bash scripts/services.sh down' stops them."
  fi
  [[ -z $FOLLOW_PID ]] || kill "$FOLLOW_PID" 2>/dev/null || true
  exit "$code"
}
trap cleanup EXIT
trap 'printf "\n"; exit 0' INT TERM

# Runs `sluice …` in the background in its own session, so the terminal's
# Ctrl-C reaches only this script, which then stops it once, cleanly.
start_sluice() { # log args…
  local log=$1
  shift
  if command -v setsid >/dev/null; then
    setsid node bin/sluice.js "$@" >>"$log" 2>&1 </dev/null &
  else
    node bin/sluice.js "$@" >>"$log" 2>&1 </dev/null &
  fi
}

wait_for() { # description seconds pid-to-watch log command…
  local what=$1 seconds=$2 pid=$3 log=$4 end
  shift 4
  end=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "---- last lines of $log ----" >&2
      tail -n 20 "$log" >&2
      die "$what: the process exited"
    fi
    ((SECONDS < end)) || die "$what: not ready after ${seconds}s (log: $log)"
    sleep 0.1
  done
}

# ---------------------------------------------------------------- 1. build

printf '%sSluice demo%s: a row changes in MariaDB; Sluice reads the binlog and\n' "$B" "$R"
printf 'deletes that row'"'"'s cache keys, in Redis and in every API process.\n'

for tool in node curl; do
  command -v "$tool" >/dev/null || die "$tool is needed (install it first)"
done
if [[ ! -d node_modules ]]; then
  step "Installing dependencies (npm ci)"
  npm ci --no-audit --no-fund
fi
stale="$(find src tsconfig.json tsconfig.build.json package.json -newer dist/cli/bin.js -print -quit 2>/dev/null || true)"
if [[ ! -f dist/cli/bin.js || ! -f dist/cli/serve.js || ! -d dist/cache/lua || -n $stale ]]; then
  step "Building (dist/ is missing or older than src/): npm run build"
  npm run build --silent || die "the build failed"
fi

# ---------------------------------------------------------------- 2-3. services, schema

step "Starting MariaDB (binlog on) and Redis: scripts/services.sh up"
bash scripts/services.sh up | sed 's/^/  /'

step "Loading the demo schema (config/schema.sql): app.users, app.messages"
"${MARIADB[@]}" -usluice_admin -padmin-secret <config/schema.sql || die "loading config/schema.sql failed"
counts="$("${MARIADB[@]}" -uapp -papp-secret -N app -e \
  'SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM messages)')"
say "app.users: $(cut -f1 <<<"$counts") rows, app.messages: $(cut -f2 <<<"$counts") rows"

# A clean start: drop the demo's cached keys and the daemon's checkpoint, so
# the daemon begins at the current end of the binlog with an empty cache
# (a checkpoint left by an earlier demo may point at a purged binlog).
for pattern in 'user:*' 'message:*' 'chat:*'; do
  "${REDIS[@]}" --scan --pattern "$pattern" | xargs -r "${REDIS[@]}" unlink >/dev/null
done
"${REDIS[@]}" unlink sluice:checkpoint:main >/dev/null

# ---------------------------------------------------------------- 4. daemon and API

if (exec 3<>"/dev/tcp/${LISTEN%:*}/${LISTEN##*:}") 2>/dev/null; then
  die "$LISTEN is already in use; choose another address with SLUICE_DEMO_LISTEN=127.0.0.1:8081"
fi
mkdir -p "$LOGS"
: >"$RUN_LOG"
: >"$SERVE_LOG"

step "Starting the daemon: sluice run --config $CONFIG"
# Debug level: the daemon then logs the keys of every row change it maps.
SLUICE_LOG_LEVEL=debug start_sluice "$RUN_LOG" run --config "$CONFIG"
RUN_PID=$!
wait_for "sluice run" 30 "$RUN_PID" "$RUN_LOG" grep -q '"msg":"binlog streaming"' "$RUN_LOG"
say "reading the binlog of 127.0.0.1:$MARIADB_PORT (log: $RUN_LOG)"

step "Starting the read API: sluice serve --config $CONFIG --listen $LISTEN"
start_sluice "$SERVE_LOG" serve --config "$CONFIG" --listen "$LISTEN"
SERVE_PID=$!
wait_for "sluice serve" 30 "$SERVE_PID" "$SERVE_LOG" curl -sf "$API/readyz"
# L1 (the in-process cache) is trusted only while the daemon's heartbeat
# (one per second on the invalidation channel) is fresh.
wait_for "L1" 10 "$SERVE_PID" "$SERVE_LOG" bash -c "curl -s '$API/readyz' | grep -q '\"l1\":true'"
say "ready: $(curl -s "$API/readyz")"

# ---------------------------------------------------------------- 5. the narration

step "1. Read a user twice"
show_get /v1/users/1
say "${D}miss: not cached yet, read from MariaDB, then stored in Redis (L2) and in the API's memory (L1)${R}"
show_get /v1/users/1
say "${D}l1: answered from the API process's memory, no network round trip${R}"

step "2. Change the row with plain SQL (not through the API, no cache code involved)"
new_name="Ada Lovelace (edited $(date +%H:%M:%S))"
sql="UPDATE users SET name = '$new_name' WHERE id = 1"
cmd "mariadb app -e \"$sql\""
DEMO_SQL="$sql" DEMO_URL="$API/v1/users/1" DEMO_PATH=name DEMO_EXPECT="$new_name" \
  DEMO_MARIADB="$(printf '%s\n' "${MARIADB[@]}" -uapp -papp-secret app)" helper poll ||
  die "the API never showed the new name"
helper lastrow "$RUN_LOG" app.users
show_get /v1/users/1

step "3. A list: the first page of chat 1 (newest first, cached under chat:1:messages)"
show_get '/v1/messages?chat_id=1&limit=3'
show_get '/v1/messages?chat_id=1&limit=3'
body="hello from the demo at $(date +%H:%M:%S)"
sql="INSERT INTO messages (chat_id, user_id, body) VALUES (1, 1, '$body')"
cmd "mariadb app -e \"$sql\""
DEMO_SQL="$sql" DEMO_URL="$API/v1/messages?chat_id=1&limit=3" DEMO_PATH=items.0.body \
  DEMO_EXPECT="$body" DEMO_MARIADB="$(printf '%s\n' "${MARIADB[@]}" -uapp -papp-secret app)" \
  helper poll || die "the API never showed the new message"
helper lastrow "$RUN_LOG" app.messages
show_get '/v1/messages?chat_id=1&limit=3'

step "4. The cache's own numbers (GET /metrics)"
curl -s "$API/metrics" | grep -E '^sluice_cache_(hits|misses|db_loads)' | sed 's/^/  /'

if ((ONCE == 1)); then
  step "Done (--once)"
  exit 0
fi

# ---------------------------------------------------------------- 6. keep running

step "Running. Try it yourself:"
say "curl -i $API/v1/users/2"
say "curl -i '$API/v1/users?ids=1,2,3'"
say "curl -i '$API/v1/messages?chat_id=2&limit=5'"
say "mariadb --no-defaults -h127.0.0.1 -P$MARIADB_PORT -uapp -papp-secret app -e \"UPDATE users SET name = 'Alan' WHERE id = 2\""
say "Logs follow ([daemon] = sluice run, [api] = sluice serve). Ctrl-C stops both."
helper follow "$RUN_LOG" "${C}[daemon]${R}" "$SERVE_LOG" "${G}[api]${R}   " &
FOLLOW_PID=$!
while kill -0 "$RUN_PID" 2>/dev/null && kill -0 "$SERVE_PID" 2>/dev/null; do sleep 0.5; done
die "a sluice process exited on its own; see the logs above"
