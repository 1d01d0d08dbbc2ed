#!/usr/bin/env bash
# Sluice's own MariaDB (binlog enabled) and Redis for development and tests.
#
#   bash scripts/services.sh up | down [--purge] | status | env
#   bash scripts/services.sh stop-mariadb | start-mariadb | stop-redis | start-redis
#   bash scripts/services.sh tools   # promtool + docker-compose (observability tests)
#
# Everything lives under $SLUICE_DATA_DIR (default <repo>/.data, git-ignored).
# Ports: SLUICE_MARIADB_PORT (default 3307), SLUICE_REDIS_PORT (default 6380).
# SLUICE_MARIADB_SERVER_ID (default 1) and SLUICE_MARIADB_ARGS (more mariadbd
# options, appended: a later option wins) let scripts/source-pair.sh run
# replicas with this same setup.
# The machine's own MariaDB (3306) and Redis (6379) are never touched.
# Quiet on success (one line per service), verbose on failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${SLUICE_DATA_DIR:-$ROOT/.data}"
MARIADB_PORT="${SLUICE_MARIADB_PORT:-3307}"
REDIS_PORT="${SLUICE_REDIS_PORT:-6380}"
MARIADB_SERVER_ID="${SLUICE_MARIADB_SERVER_ID:-1}"
read -r -a MARIADB_ARGS <<<"${SLUICE_MARIADB_ARGS:-}"

MDB_DIR="$DATA/mariadb"
MDB_DATADIR="$MDB_DIR/data"
MDB_SOCKET="$MDB_DIR/mysqld.sock"
MDB_PID="$MDB_DIR/mysqld.pid"
MDB_LOG="$MDB_DIR/error.log"
MDB_INIT_MARK="$MDB_DIR/.initialized" # install-db completed
MDB_USERS_MARK="$MDB_DIR/.users-created" # accounts + database created once

REDIS_DIR="$DATA/redis"
REDIS_PID="$REDIS_DIR/redis.pid"
REDIS_LOG="$REDIS_DIR/redis.log"

DEADLINE_S=60

# Accounts (test-only credentials, instance bound to 127.0.0.1).
SOURCE_USER=sluice SOURCE_PASS=sluice-secret     # the daemon: least privilege
APP_USER=app APP_PASS=app-secret                 # the "application": app + t_* dbs
ADMIN_USER=sluice_admin ADMIN_PASS=admin-secret  # tests/scripts only: DDL, PURGE/FLUSH

# --no-defaults everywhere (must be the first option): otherwise Debian's
# /etc/mysql/*.cnf are read and point us at the system instance's socket,
# datadir and pid file.
mdb_client() { mariadb --no-defaults --socket="$MDB_SOCKET" -uroot --connect-timeout=5 "$@"; }
mdb_admin() { mariadb-admin --no-defaults --socket="$MDB_SOCKET" -uroot --connect-timeout=2 "$@"; }
rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

die() {
  echo "services.sh: $*" >&2
  exit 1
}

show_log() { # file: print its tail on failure
  if [[ -s "$1" ]]; then
    echo "---- last lines of $1 ----" >&2
    tail -n 40 "$1" >&2
    echo "----" >&2
  fi
}

# ---------------------------------------------------------------- packages

find_mariadbd() {
  if [[ -x /usr/sbin/mariadbd ]]; then echo /usr/sbin/mariadbd; else command -v mariadbd || true; fi
}

# Print "tool:package" for each tool a service needs that is not installed.
missing_tools() { # service
  local t
  if [[ $1 == mariadb ]]; then
    # mariadb-server-core ships mariadbd + install-db but, unlike mariadb-server,
    # no system service: nothing gets started, no /var/lib/mysql is created.
    [[ -n "$(find_mariadbd)" ]] || echo mariadbd:mariadb-server-core
    command -v mariadb-install-db >/dev/null || echo mariadb-install-db:mariadb-server-core
    for t in mariadb mariadb-admin; do command -v $t >/dev/null || echo $t:mariadb-client; done
  elif [[ $1 == tools ]]; then
    # The observability tests: promtool checks the alert rules, the dashboard's
    # queries and live /metrics; docker-compose validates docker-compose.yml
    # (`docker-compose config` needs no engine).
    command -v promtool >/dev/null || echo promtool:prometheus
    command -v docker-compose >/dev/null || echo docker-compose:docker-compose
  else
    command -v redis-server >/dev/null || echo redis-server:redis-server
    command -v redis-cli >/dev/null || echo redis-cli:redis-tools
  fi
}

# Install missing packages with apt-get when root, else say what to install.
ensure_packages() { # service
  local missing pkgs
  missing="$(missing_tools "$1")"
  [[ -n $missing ]] || return 0
  pkgs="$(sed 's/.*://' <<<"$missing" | sort -u | paste -sd' ' -)"
  missing="$(sed 's/:.*//' <<<"$missing" | paste -sd' ' -)"

  if [[ $EUID -ne 0 ]] || ! command -v apt-get >/dev/null; then
    die "$1: missing ${missing}; install them first: sudo apt-get install -y ${pkgs}"
  fi
  mkdir -p "$DATA"
  local log="$DATA/apt.log" policy=/usr/sbin/policy-rc.d created_policy=0 rc=0
  echo "$1: installing ${pkgs} (apt-get, log in $log)"
  # Keep the packages' own service (redis-server's) from being started: a
  # policy-rc.d exiting 101 is honoured by invoke-rc.d and deb-systemd-invoke.
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && created_policy=1
  fi
  # shellcheck disable=SC2086 # $pkgs is a list of package names
  {
    export DEBIAN_FRONTEND=noninteractive
    # Another apt run (a second checkout's tests) may hold the lock: wait for it.
    apt-get update && apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=300 $pkgs
  } >"$log" 2>&1 || rc=$?
  ((created_policy == 0)) || rm -f "$policy"
  if ((rc != 0)); then
    show_log "$log"
    die "apt-get install ${pkgs} failed"
  fi
  missing="$(missing_tools "$1")"
  [[ -z $missing ]] || die "$1: still missing after apt-get: $(paste -sd' ' - <<<"$missing")"
}

# ---------------------------------------------------------------- helpers

# True if the pid runs (a zombie does not: a killed daemon is reparented and
# may stay a zombie for a while if pid 1 reaps lazily, as in some containers).
alive() { # pid
  kill -0 "$1" 2>/dev/null || return 1
  [[ ! -r /proc/$1/stat ]] || [[ "$(sed -n 's/^.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null)" != [ZX] ]]
}

# Print the pid recorded in a pid file if that process is alive and is the
# expected program (guards against stale files and recycled pids).
live_pid() { # pidfile comm
  local pid comm
  [[ -s "$1" ]] || return 1
  pid="$(tr -dc '0-9' <"$1")"
  [[ -n $pid ]] && alive "$pid" || return 1
  if [[ -r /proc/$pid/comm ]]; then
    comm="$(cat "/proc/$pid/comm")"
    [[ $comm == "$2"* ]] || return 1
  fi
  echo "$pid"
}

port_in_use() { # port: true if something accepts TCP connections on it
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

wait_gone() { # pid seconds
  local end=$((SECONDS + $2))
  while alive "$1"; do
    ((SECONDS < end)) || return 1
    sleep 0.2
  done
}

# ---------------------------------------------------------------- MariaDB

mariadb_ready() { mdb_admin ping >/dev/null 2>&1; }

mariadb_init_datadir() {
  # A datadir without the marker is a half-finished init: start over.
  if [[ ! -f $MDB_INIT_MARK ]]; then
    rm -rf "$MDB_DATADIR" "$MDB_USERS_MARK"
    mkdir -p "$MDB_DATADIR"
    local user_opt=()
    [[ $EUID -ne 0 ]] || user_opt=(--user=root)
    # normal auth: passwordless root@localhost over the socket (our private
    # socket file) so this script can provision and shut down.
    if ! mariadb-install-db --no-defaults --datadir="$MDB_DATADIR" "${user_opt[@]}" \
      --auth-root-authentication-method=normal --skip-test-db --skip-name-resolve \
      >"$MDB_DIR/install-db.log" 2>&1; then
      show_log "$MDB_DIR/install-db.log"
      die "mariadb-install-db failed"
    fi
    touch "$MDB_INIT_MARK"
  fi
}

mariadb_create_users() {
  # $APP_USER gets every database matching t\_% (tests create t_<random>) plus
  # `app`; no global privileges. REPLICATION CLIENT is an alias of BINLOG
  # MONITOR since 10.5 (SHOW MASTER STATUS / SHOW BINARY LOGS).
  local sql="" host
  for host in localhost 127.0.0.1 %; do
    sql+="
CREATE OR REPLACE USER '$SOURCE_USER'@'$host' IDENTIFIED BY '$SOURCE_PASS';
GRANT REPLICATION SLAVE, BINLOG MONITOR, SELECT ON *.* TO '$SOURCE_USER'@'$host';
CREATE OR REPLACE USER '$APP_USER'@'$host' IDENTIFIED BY '$APP_PASS';
GRANT ALL PRIVILEGES ON \`app\`.* TO '$APP_USER'@'$host';
GRANT ALL PRIVILEGES ON \`t\\_%\`.* TO '$APP_USER'@'$host';
CREATE OR REPLACE USER '$ADMIN_USER'@'$host' IDENTIFIED BY '$ADMIN_PASS';
GRANT ALL PRIVILEGES ON *.* TO '$ADMIN_USER'@'$host' WITH GRANT OPTION;"
  done
  # Anonymous users shadow user@% logins from localhost; root only keeps its
  # socket login (with skip-name-resolve, 'localhost' never matches TCP).
  sql+="
DELETE FROM mysql.global_priv WHERE User = '' OR (User = 'root' AND Host <> 'localhost');
DELETE FROM mysql.db WHERE User = '';
DELETE FROM mysql.proxies_priv WHERE User = '' OR (User = 'root' AND Host <> 'localhost');
FLUSH PRIVILEGES;
CREATE DATABASE IF NOT EXISTS \`app\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
  # sql_log_bin=0: keep the provisioning out of the binlog tests read.
  if ! mdb_client -e "SET SESSION sql_log_bin = 0; $sql" >"$MDB_DIR/provision.log" 2>&1; then
    show_log "$MDB_DIR/provision.log"
    die "creating MariaDB users failed"
  fi
  touch "$MDB_USERS_MARK"
}

# Every start checks that all 9 accounts and `app` exist, that no anonymous
# account is back, and that each user logs in over TCP as clients will.
mariadb_check_users() {
  local u p bad=() counts
  counts="$(mdb_client -N -e "
    SELECT (SELECT COUNT(*) FROM mysql.global_priv
             WHERE User IN ('$SOURCE_USER', '$APP_USER', '$ADMIN_USER')
               AND Host IN ('localhost', '127.0.0.1', '%')),
           (SELECT COUNT(*) FROM mysql.global_priv WHERE User = ''),
           (SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'app')" 2>&1)" ||
    true
  [[ $counts == $'9\t0\t1' ]] || bad+=("accounts/database (9 accounts, 0 anonymous, app db: got '$counts')")
  for u in "$SOURCE_USER:$SOURCE_PASS" "$APP_USER:$APP_PASS" "$ADMIN_USER:$ADMIN_PASS"; do
    p="${u#*:}" u="${u%%:*}"
    mariadb --no-defaults -h127.0.0.1 -P"$MARIADB_PORT" -u"$u" -p"$p" --connect-timeout=5 \
      -e 'SELECT 1' >/dev/null 2>&1 || bad+=("login $u")
  done
  ((${#bad[@]} == 0)) && return 0
  echo "services.sh: MariaDB users missing or broken: ${bad[*]}" >&2
  return 1
}

start_mariadb() {
  local pid end
  if pid="$(live_pid "$MDB_PID" mariadbd)"; then
    # Ours is alive: give it the deadline in case it is still starting.
    end=$((SECONDS + DEADLINE_S))
    until mariadb_ready; do
      ((SECONDS < end)) || die "mariadb: pid $pid is alive but not answering on $MDB_SOCKET; try '$0 stop-mariadb'"
      sleep 0.2
    done
    echo "mariadb: running on 127.0.0.1:$MARIADB_PORT (pid $pid, already up)"
    return 0
  fi
  ensure_packages mariadb
  rm -f "$MDB_PID" "$MDB_SOCKET" "$MDB_SOCKET.lock" # stale leftovers of a crash
  port_in_use "$MARIADB_PORT" &&
    die "mariadb: port $MARIADB_PORT is already used by another process (set SLUICE_MARIADB_PORT)"
  # AF_UNIX paths are limited to 107 bytes.
  ((${#MDB_SOCKET} < 100)) || die "socket path too long: $MDB_SOCKET (set SLUICE_DATA_DIR to a shorter path)"
  mkdir -p "$MDB_DIR"
  mariadb_init_datadir

  local mariadbd user_opt=()
  mariadbd="$(find_mariadbd)"
  [[ $EUID -ne 0 ]] || user_opt=(--user=root) # mariadbd refuses root without it
  # binlog: ROW + FULL image + FULL metadata (zongji needs the column names and
  # binlog_row_metadata set at runtime would not survive a restart).
  # Durability relaxed and a small footprint: it is a throwaway test server.
  # Native AIO off: io_uring/libaio are often blocked in containers.
  # setsid: own session, so Ctrl-C or a dying test runner does not kill it.
  setsid "$mariadbd" --no-defaults "${user_opt[@]}" \
    --datadir="$MDB_DATADIR" --socket="$MDB_SOCKET" --pid-file="$MDB_PID" \
    --port="$MARIADB_PORT" --bind-address=127.0.0.1 --skip-name-resolve \
    --log-error="$MDB_LOG" \
    --log-bin=binlog --binlog-format=ROW --binlog-row-image=FULL \
    --binlog-row-metadata=FULL --server-id="$MARIADB_SERVER_ID" \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
    --default-time-zone=+00:00 --max-allowed-packet=64M --max-connections=300 \
    --innodb-buffer-pool-size=256M --innodb-log-file-size=64M \
    --innodb-flush-log-at-trx-commit=2 --sync-binlog=0 --innodb-use-native-aio=0 \
    "${MARIADB_ARGS[@]}" \
    </dev/null >>"$MDB_DIR/console.log" 2>&1 &
  local launched=$!
  end=$((SECONDS + DEADLINE_S))
  until mariadb_ready; do
    if ! alive "$launched" || ((SECONDS >= end)); then
      ! alive "$launched" || echo "mariadb: not ready after ${DEADLINE_S}s" >&2
      show_log "$MDB_LOG"
      show_log "$MDB_DIR/console.log"
      die "mariadb failed to start on port $MARIADB_PORT"
    fi
    sleep 0.2
  done

  # Users are created once per datadir (marker); later starts only verify,
  # and recreate them (loudly) if something removed them.
  if [[ -f $MDB_USERS_MARK ]] && ! mariadb_check_users; then
    echo "services.sh: recreating the MariaDB users" >&2
    rm -f "$MDB_USERS_MARK"
  fi
  if [[ ! -f $MDB_USERS_MARK ]]; then
    mariadb_create_users
    mariadb_check_users || die "mariadb: users still broken after creating them"
  fi
  pid="$(live_pid "$MDB_PID" mariadbd)" || pid=$launched
  echo "mariadb: running on 127.0.0.1:$MARIADB_PORT (pid $pid)"
}

stop_mariadb() {
  local pid
  if ! pid="$(live_pid "$MDB_PID" mariadbd)"; then
    rm -f "$MDB_PID"
    echo "mariadb: stopped"
    return 0
  fi
  # Clean shutdown over our socket; fall back to signals.
  mdb_admin shutdown >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
  if ! wait_gone "$pid" "$DEADLINE_S"; then
    echo "mariadb: pid $pid ignored shutdown for ${DEADLINE_S}s, killing it" >&2
    show_log "$MDB_LOG"
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" 10 || die "mariadb: cannot stop pid $pid"
  fi
  rm -f "$MDB_PID"
  echo "mariadb: stopped"
}

# ---------------------------------------------------------------- Redis

# In the data folder, unless its path is too long for a socket (108 bytes
# with the terminating NUL): then in /tmp, named by the port (one server per port).
redis_socket() {
  local path="$REDIS_DIR/redis.sock"
  if ((${#path} > 100)); then path="/tmp/sluice-redis-$REDIS_PORT.sock"; fi
  echo "$path"
}

redis_pid() { # live pid of *our* redis, answering on its port
  local pid
  pid="$(live_pid "$REDIS_PID" redis-server)" || return 1
  [[ "$(rcli info server 2>/dev/null | tr -d '\r' | sed -n 's/^process_id://p')" == "$pid" ]] || return 1
  echo "$pid"
}

start_redis() {
  local pid
  if pid="$(redis_pid)"; then
    echo "redis: running on 127.0.0.1:$REDIS_PORT (pid $pid, already up)"
    return 0
  fi
  if pid="$(live_pid "$REDIS_PID" redis-server)"; then
    die "redis: pid $pid is alive but not answering on port $REDIS_PORT; run '$0 stop-redis' first"
  fi
  ensure_packages redis
  rm -f "$REDIS_PID"
  port_in_use "$REDIS_PORT" &&
    die "redis: port $REDIS_PORT is already used by another process (set SLUICE_REDIS_PORT)"
  mkdir -p "$REDIS_DIR"
  # No persistence: tests own their keys and a restart must come back empty.
  # The socket serves redis.url unix:// (test/integration/redis-socket.test.ts, the bench).
  if ! redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --unixsocket "$(redis_socket)" --unixsocketperm 700 \
    --daemonize yes --dir "$REDIS_DIR" --pidfile "$REDIS_PID" --logfile "$REDIS_LOG" \
    >"$REDIS_DIR/console.log" 2>&1; then
    show_log "$REDIS_DIR/console.log"
    die "redis-server failed to start"
  fi
  local end=$((SECONDS + DEADLINE_S))
  until pid="$(redis_pid)"; do
    if ((SECONDS >= end)); then
      show_log "$REDIS_LOG"
      die "redis did not answer on port $REDIS_PORT within ${DEADLINE_S}s"
    fi
    sleep 0.1
  done
  echo "redis: running on 127.0.0.1:$REDIS_PORT (pid $pid)"
}

stop_redis() {
  local pid
  if ! pid="$(live_pid "$REDIS_PID" redis-server)"; then
    rm -f "$REDIS_PID"
    echo "redis: stopped"
    return 0
  fi
  # Only send SHUTDOWN if the port really is ours, else signal the pid.
  if [[ "$(redis_pid || true)" == "$pid" ]]; then
    rcli shutdown nosave >/dev/null 2>&1 || true
  else
    kill -TERM "$pid" 2>/dev/null || true
  fi
  if ! wait_gone "$pid" 20; then
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" 10 || die "redis: cannot stop pid $pid"
  fi
  rm -f "$REDIS_PID"
  echo "redis: stopped"
}

# ---------------------------------------------------------------- commands

status() {
  local pid rc=0
  if pid="$(live_pid "$MDB_PID" mariadbd)" && mariadb_ready; then
    echo "mariadb: running port=$MARIADB_PORT pid=$pid socket=$MDB_SOCKET"
  else
    echo "mariadb: stopped port=$MARIADB_PORT"
    rc=1
  fi
  if pid="$(redis_pid)"; then
    echo "redis: running port=$REDIS_PORT pid=$pid"
  else
    echo "redis: stopped port=$REDIS_PORT"
    rc=1
  fi
  return $rc
}

print_env() {
  local k v
  while IFS='=' read -r k v; do
    printf "export %s='%s'\n" "$k" "${v//\'/\'\\\'\'}"
  done <<EOF
SLUICE_TEST_MARIADB_PORT=$MARIADB_PORT
SLUICE_TEST_REDIS_PORT=$REDIS_PORT
SLUICE_TEST_MARIADB_SOCKET=$MDB_SOCKET
SLUICE_TEST_ADMIN_URL=mysql://$ADMIN_USER:$ADMIN_PASS@127.0.0.1:$MARIADB_PORT
SLUICE_TEST_SOURCE_URL=mysql://$SOURCE_USER:$SOURCE_PASS@127.0.0.1:$MARIADB_PORT
SLUICE_TEST_APP_URL=mysql://$APP_USER:$APP_PASS@127.0.0.1:$MARIADB_PORT
SLUICE_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT
EOF
}

purge() {
  # Remove only what this script creates, so a mistaken SLUICE_DATA_DIR
  # cannot wipe anything else.
  rm -rf "$MDB_DIR" "$REDIS_DIR" "$DATA/apt.log"
  rmdir "$DATA" 2>/dev/null || true
  echo "purged $DATA"
}

usage() {
  echo "usage: $0 up | down [--purge] | status | env | tools | start-mariadb | stop-mariadb | start-redis | stop-redis" >&2
  exit 2
}

case "${1:-}" in
  up)
    start_mariadb
    start_redis
    ;;
  down)
    [[ -z ${2:-} || ${2:-} == --purge ]] || usage
    stop_mariadb
    stop_redis
    [[ ${2:-} != --purge ]] || purge
    ;;
  status) status ;;
  env) print_env ;;
  tools)
    ensure_packages tools
    echo "tools: $(promtool --version 2>&1 | head -n 1); $(docker-compose version --short 2>/dev/null)"
    ;;
  start-mariadb) start_mariadb ;;
  stop-mariadb) stop_mariadb ;;
  start-redis) start_redis ;;
  stop-redis) stop_redis ;;
  *) usage ;;
esac
