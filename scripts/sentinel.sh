#!/usr/bin/env bash
# A local Redis Sentinel group for development and the failover tests: a
# primary, one replica and three redis-sentinel processes, on loopback.
#
#   bash scripts/sentinel.sh up | down [--purge] | status | env
#   bash scripts/sentinel.sh primary-port     # the port of the current primary
#
# Ports: SLUICE_SENTINEL_REDIS_PORTS (default "6420 6421": the first starts
# as the primary, the second as its replica), SLUICE_SENTINEL_PORTS (default
# "6425 6426 6427"). The group is named SLUICE_SENTINEL_NAME (default
# "sluice"); a Sentinel calls the primary down after
# SLUICE_SENTINEL_DOWN_AFTER_MS (default 1000). Everything lives under
# $SLUICE_DATA_DIR/sentinel (default <repo>/.data, git-ignored), without
# persistence: `up` after `down` is a fresh group, with the first port as
# primary again. `up` returns once the replica is in sync and every Sentinel
# knows the replica and the two other Sentinels (a failover needs them), and
# refuses to run over a group left half up (run `down` first). The
# redis-sentinel package is installed with apt-get when missing (as
# scripts/services.sh installs its packages). Quiet on success, verbose on
# failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${SLUICE_DATA_DIR:-$ROOT/.data}"
DIR="$DATA/sentinel"
read -r -a REDIS_PORTS <<<"${SLUICE_SENTINEL_REDIS_PORTS:-6420 6421}"
read -r -a SENTINEL_PORTS <<<"${SLUICE_SENTINEL_PORTS:-6425 6426 6427}"
NAME="${SLUICE_SENTINEL_NAME:-sluice}"
DOWN_AFTER_MS="${SLUICE_SENTINEL_DOWN_AFTER_MS:-1000}"
DEADLINE_S=60

die() {
  echo "sentinel.sh: $*" >&2
  exit 1
}

((${#REDIS_PORTS[@]} == 2)) || die "SLUICE_SENTINEL_REDIS_PORTS needs two ports (got '${REDIS_PORTS[*]}')"
((${#SENTINEL_PORTS[@]} == 3)) || die "SLUICE_SENTINEL_PORTS needs three ports (got '${SENTINEL_PORTS[*]}')"
for p in "${REDIS_PORTS[@]}" "${SENTINEL_PORTS[@]}"; do
  [[ $p =~ ^[0-9]+$ ]] || die "not a port: '$p'"
done
[[ $NAME =~ ^[A-Za-z0-9_.-]+$ ]] || die "not a group name: '$NAME' (SLUICE_SENTINEL_NAME)"
[[ $DOWN_AFTER_MS =~ ^[0-9]+$ ]] || die "not a number: '$DOWN_AFTER_MS' (SLUICE_SENTINEL_DOWN_AFTER_MS)"
PRIMARY_PORT=${REDIS_PORTS[0]}
REPLICA_PORT=${REDIS_PORTS[1]}

rcli() { # port args…
  local port=$1
  shift
  redis-cli -h 127.0.0.1 -p "$port" "$@"
}

show_log() {
  if [[ -s "$1" ]]; then
    echo "---- last lines of $1 ----" >&2
    tail -n 30 "$1" >&2
    echo "----" >&2
  fi
}

# ---------------------------------------------------------------- packages

# redis-sentinel is Debian's package of the Sentinel (the redis-server binary
# in sentinel mode, plus a service this script never starts).
ensure_packages() {
  local missing=()
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v redis-cli >/dev/null || missing+=(redis-tools)
  command -v redis-sentinel >/dev/null || missing+=(redis-sentinel)
  ((${#missing[@]} > 0)) || return 0
  if [[ $EUID -ne 0 ]] || ! command -v apt-get >/dev/null; then
    die "missing ${missing[*]}; install them first: sudo apt-get install -y ${missing[*]}"
  fi
  mkdir -p "$DATA"
  local log="$DATA/apt-sentinel.log" policy=/usr/sbin/policy-rc.d created_policy=0 rc=0
  echo "sentinel: installing ${missing[*]} (apt-get, log in $log)"
  # Keep the packages' own services from being started (see services.sh).
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && created_policy=1
  fi
  {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update && apt-get install -y --no-install-recommends "${missing[@]}"
  } >"$log" 2>&1 || rc=$?
  ((created_policy == 0)) || rm -f "$policy"
  if ((rc != 0)); then
    show_log "$log"
    die "apt-get install ${missing[*]} failed"
  fi
  command -v redis-sentinel >/dev/null || die "redis-sentinel still missing after apt-get"
}

# ---------------------------------------------------------------- processes

alive() { kill -0 "$1" 2>/dev/null; }

port_in_use() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# The pid of *our* process on `port`: recorded in its pid file, alive, and the
# process answering on the port (guards against stale files and other servers).
our_pid() { # port
  local file="$DIR/$1/pid" pid
  [[ -s $file ]] || return 1
  pid="$(tr -dc '0-9' <"$file")"
  [[ -n $pid ]] && alive "$pid" || return 1
  [[ "$(rcli "$1" info server 2>/dev/null | tr -d '\r' | sed -n 's/^process_id://p')" == "$pid" ]] || return 1
  echo "$pid"
}

wait_for() { # description command…: polls the command until it succeeds or the deadline passes
  local what=$1 end=$((SECONDS + DEADLINE_S))
  shift
  until "$@"; do
    ((SECONDS < end)) || return 1
    sleep 0.2
  done
}

start_redis() { # port [replica-of-port]
  local port=$1 dir="$DIR/$1"
  port_in_use "$port" && die "port $port is already used by another process (set SLUICE_SENTINEL_REDIS_PORTS)"
  mkdir -p "$dir"
  local args=(--port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes
    --dir "$dir" --pidfile "$dir/pid" --logfile "$dir/redis.log")
  [[ -z ${2:-} ]] || args+=(--replicaof 127.0.0.1 "$2")
  if ! redis-server "${args[@]}" >"$dir/console.log" 2>&1; then
    show_log "$dir/console.log"
    die "redis-server failed to start on port $port"
  fi
  wait_for "redis on $port" ping_ok "$port" || {
    show_log "$dir/redis.log"
    die "redis on port $port did not answer within ${DEADLINE_S}s"
  }
}

start_sentinel() { # port
  local port=$1 dir="$DIR/$1"
  port_in_use "$port" && die "port $port is already used by another process (set SLUICE_SENTINEL_PORTS)"
  mkdir -p "$dir"
  # The Sentinel rewrites its file (state, discovered peers): one each.
  cat >"$dir/sentinel.conf" <<EOF
port $port
bind 127.0.0.1
daemonize yes
pidfile $dir/pid
logfile $dir/sentinel.log
dir $dir
sentinel monitor $NAME 127.0.0.1 $PRIMARY_PORT 2
sentinel down-after-milliseconds $NAME $DOWN_AFTER_MS
sentinel failover-timeout $NAME 10000
sentinel parallel-syncs $NAME 1
EOF
  if ! redis-sentinel "$dir/sentinel.conf" >"$dir/console.log" 2>&1; then
    show_log "$dir/console.log"
    die "redis-sentinel failed to start on port $port"
  fi
  wait_for "sentinel on $port" ping_ok "$port" || {
    show_log "$dir/sentinel.log"
    die "sentinel on port $port did not answer within ${DEADLINE_S}s"
  }
}

ping_ok() { [[ "$(rcli "$1" ping 2>/dev/null)" == PONG ]]; }

replica_in_sync() {
  rcli "$REPLICA_PORT" info replication 2>/dev/null | tr -d '\r' | grep -q '^master_link_status:up$'
}

# Every Sentinel sees the replica and the two other Sentinels.
sentinels_ready() {
  local port info
  for port in "${SENTINEL_PORTS[@]}"; do
    info="$(rcli "$port" sentinel master "$NAME" 2>/dev/null | tr -d '\r' | paste - - | tr '\t' '=')"
    grep -qx 'num-slaves=1' <<<"$info" || return 1
    grep -qx 'num-other-sentinels=2' <<<"$info" || return 1
  done
}

running_count() {
  local n=0 port
  for port in "${REDIS_PORTS[@]}" "${SENTINEL_PORTS[@]}"; do
    if our_pid "$port" >/dev/null; then n=$((n + 1)); fi
  done
  echo "$n"
}

up() {
  ensure_packages
  local total=$((${#REDIS_PORTS[@]} + ${#SENTINEL_PORTS[@]})) running
  running="$(running_count)"
  if ((running == total)); then
    echo "sentinel: running (group $NAME, primary on $(primary_port), sentinels ${SENTINEL_PORTS[*]}; already up)"
    return 0
  fi
  ((running == 0)) || die "$running of $total processes run (a failover test left it half up?): run 'down' first"
  rm -rf "$DIR"
  mkdir -p "$DIR"
  start_redis "$PRIMARY_PORT"
  start_redis "$REPLICA_PORT" "$PRIMARY_PORT"
  wait_for "replica in sync" replica_in_sync || {
    show_log "$DIR/$REPLICA_PORT/redis.log"
    die "the replica on $REPLICA_PORT did not sync within ${DEADLINE_S}s"
  }
  local port
  for port in "${SENTINEL_PORTS[@]}"; do start_sentinel "$port"; done
  wait_for "sentinels ready" sentinels_ready || {
    for port in "${SENTINEL_PORTS[@]}"; do show_log "$DIR/$port/sentinel.log"; done
    die "the Sentinels did not find the replica and each other within ${DEADLINE_S}s"
  }
  echo "sentinel: running (group $NAME, primary on $PRIMARY_PORT, replica on $REPLICA_PORT, sentinels ${SENTINEL_PORTS[*]})"
}

stop_port() { # port
  local pid
  if pid="$(our_pid "$1")"; then
    kill -CONT "$pid" 2>/dev/null || true # a test may have left it stopped
    kill -KILL "$pid" 2>/dev/null || true
  fi
  # A process a test SIGSTOPped does not answer INFO: go by the pid file.
  local file="$DIR/$1/pid"
  if [[ -s $file ]]; then
    pid="$(tr -dc '0-9' <"$file")"
    if [[ -n $pid ]] && alive "$pid" && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == redis-* ]]; then
      kill -CONT "$pid" 2>/dev/null || true
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
}

down() {
  local port
  for port in "${SENTINEL_PORTS[@]}" "${REDIS_PORTS[@]}"; do stop_port "$port"; done
  for port in "${SENTINEL_PORTS[@]}" "${REDIS_PORTS[@]}"; do
    wait_for "port $port free" bash -c "! timeout 1 bash -c 'exec 3<>/dev/tcp/127.0.0.1/$port' 2>/dev/null" ||
      die "port $port still answers after stopping"
  done
  echo "sentinel: stopped"
}

# The port of the primary the Sentinels name now.
primary_port() {
  local port addr
  for port in "${SENTINEL_PORTS[@]}"; do
    addr="$(rcli "$port" sentinel get-master-addr-by-name "$NAME" 2>/dev/null | tr -d '\r' | sed -n 2p)"
    if [[ -n $addr ]]; then
      echo "$addr"
      return 0
    fi
  done
  return 1
}

status() {
  local port rc=0 role
  for port in "${REDIS_PORTS[@]}"; do
    if pid="$(our_pid "$port")"; then
      role="$(rcli "$port" info replication | tr -d '\r' | sed -n 's/^role://p')"
      echo "redis: running port=$port pid=$pid role=$role"
    else
      echo "redis: stopped port=$port"
      rc=1
    fi
  done
  for port in "${SENTINEL_PORTS[@]}"; do
    if pid="$(our_pid "$port")"; then
      echo "sentinel: running port=$port pid=$pid primary=$(rcli "$port" sentinel get-master-addr-by-name "$NAME" | tr -d '\r' | paste -sd:)"
    else
      echo "sentinel: stopped port=$port"
      rc=1
    fi
  done
  return $rc
}

print_env() {
  local list="" port
  for port in "${SENTINEL_PORTS[@]}"; do list+="${list:+,}127.0.0.1:$port"; done
  cat <<EOF
export SLUICE_TEST_SENTINELS='$list'
export SLUICE_TEST_SENTINEL_NAME='$NAME'
export SLUICE_TEST_SENTINEL_PRIMARY_PORT='$PRIMARY_PORT'
export SLUICE_TEST_SENTINEL_REPLICA_PORT='$REPLICA_PORT'
export SLUICE_TEST_SENTINEL_DIR='$DIR'
EOF
}

purge() {
  rm -rf "$DIR" "$DATA/apt-sentinel.log"
  rmdir "$DATA" 2>/dev/null || true
  echo "purged $DIR"
}

usage() {
  echo "usage: $0 up | down [--purge] | status | env | primary-port" >&2
  exit 2
}

case "${1:-}" in
  up) up ;;
  down)
    [[ -z ${2:-} || ${2:-} == --purge ]] || usage
    down
    [[ ${2:-} != --purge ]] || purge
    ;;
  status) status ;;
  env) print_env ;;
  primary-port) primary_port ;;
  *) usage ;;
esac
