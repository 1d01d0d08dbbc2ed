#!/usr/bin/env bash
# A local three-master Redis Cluster for development and the cluster tests.
#
#   bash scripts/cluster.sh up | down [--purge] | status | env
#
# Nodes listen on 127.0.0.1, ports SLUICE_CLUSTER_PORTS (default
# "7001 7002 7003"; at least three), and live under
# $SLUICE_DATA_DIR/cluster (default <repo>/.data/cluster, git-ignored). No
# persistence: `up` after `down` creates a fresh, empty cluster. `up` is
# idempotent and returns once every node reports cluster_state:ok.
# SLUICE_CLUSTER_REPLICAS=1 gives every master a replica (then at least six
# ports; `up` also waits for every replica to be in sync, and a replica may
# be promoted however long its link was down: cluster-replica-validity-factor
# 0, for failover tests); SLUICE_CLUSTER_NODE_TIMEOUT (default 5000 ms) is
# how long a silent node takes to be failed over.
# Quiet on success, verbose on failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${SLUICE_DATA_DIR:-$ROOT/.data}"
DIR="$DATA/cluster"
read -r -a PORTS <<<"${SLUICE_CLUSTER_PORTS:-7001 7002 7003}"
REPLICAS="${SLUICE_CLUSTER_REPLICAS:-0}"
NODE_TIMEOUT="${SLUICE_CLUSTER_NODE_TIMEOUT:-5000}"
DEADLINE_S=60

die() {
  echo "cluster.sh: $*" >&2
  exit 1
}

((${#PORTS[@]} >= 3)) || die "SLUICE_CLUSTER_PORTS needs at least three ports (got '${PORTS[*]}')"
for p in "${PORTS[@]}"; do [[ $p =~ ^[0-9]+$ ]] || die "not a port: '$p' (SLUICE_CLUSTER_PORTS)"; done
[[ $REPLICAS == 0 || $REPLICAS == 1 ]] || die "SLUICE_CLUSTER_REPLICAS is 0 or 1 (got '$REPLICAS')"
((REPLICAS == 0 || ${#PORTS[@]} >= 6)) || die "SLUICE_CLUSTER_REPLICAS=1 needs at least six ports (got '${PORTS[*]}')"
[[ $NODE_TIMEOUT =~ ^[0-9]+$ ]] || die "not a number: '$NODE_TIMEOUT' (SLUICE_CLUSTER_NODE_TIMEOUT)"
for t in redis-server redis-cli; do
  command -v $t >/dev/null || die "$t is missing (bash scripts/services.sh up installs it)"
done

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

alive() { kill -0 "$1" 2>/dev/null; }

# The pid of *our* node on `port`: recorded in its pid file, alive, and the
# process answering on the port (guards against stale files and other servers).
node_pid() { # port
  local file="$DIR/$1/redis.pid" pid
  [[ -s $file ]] || return 1
  pid="$(tr -dc '0-9' <"$file")"
  [[ -n $pid ]] && alive "$pid" || return 1
  [[ "$(rcli "$1" info server 2>/dev/null | tr -d '\r' | sed -n 's/^process_id://p')" == "$pid" ]] || return 1
  echo "$pid"
}

port_in_use() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

info_field() { # port field: a field of CLUSTER INFO
  rcli "$1" cluster info 2>/dev/null | tr -d '\r' | sed -n "s/^$2://p"
}

STARTED=0 # nodes this invocation started (they start empty, outside any cluster)

start_node() { # port
  local port=$1 dir="$DIR/$1" pid end
  if pid="$(node_pid "$port")"; then return 0; fi
  STARTED=$((STARTED + 1))
  port_in_use "$port" && die "port $port is already used by another process (set SLUICE_CLUSTER_PORTS)"
  mkdir -p "$dir"
  rm -f "$dir/redis.pid" "$dir/nodes.conf" # a node that is not running starts over
  local validity=()
  ((REPLICAS == 0)) || validity=(--cluster-replica-validity-factor 0)
  if ! redis-server --port "$port" --bind 127.0.0.1 "${validity[@]}" \
    --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout "$NODE_TIMEOUT" \
    --save '' --appendonly no --daemonize yes \
    --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
    >"$dir/console.log" 2>&1; then
    show_log "$dir/console.log"
    die "redis-server failed to start on port $port"
  fi
  end=$((SECONDS + DEADLINE_S))
  until node_pid "$port" >/dev/null; do
    if ((SECONDS >= end)); then
      show_log "$dir/redis.log"
      die "node $port did not answer within ${DEADLINE_S}s"
    fi
    sleep 0.1
  done
}

all_ok() {
  local p repl
  for p in "${PORTS[@]}"; do
    [[ "$(info_field "$p" cluster_state)" == ok ]] || return 1
    [[ "$(info_field "$p" cluster_known_nodes)" == "${#PORTS[@]}" ]] || return 1
    repl="$(rcli "$p" info replication 2>/dev/null | tr -d '\r')"
    if grep -qx 'role:slave' <<<"$repl"; then
      grep -qx 'master_link_status:up' <<<"$repl" || return 1
    fi
  done
}

wait_ok() { # seconds
  local end=$((SECONDS + $1))
  until all_ok; do
    ((SECONDS < end)) || return 1
    sleep 0.2
  done
}

create_cluster() {
  local p addrs=()
  # A node that knows other nodes or owns slots from an earlier, broken
  # attempt cannot join a new cluster: empty it and forget its peers.
  for p in "${PORTS[@]}"; do
    if [[ "$(info_field "$p" cluster_known_nodes)" != 1 || "$(info_field "$p" cluster_slots_assigned)" != 0 ]]; then
      rcli "$p" flushall >/dev/null
      rcli "$p" cluster reset hard >/dev/null
    fi
    addrs+=("127.0.0.1:$p")
  done
  if ! redis-cli --cluster create "${addrs[@]}" --cluster-replicas "$REPLICAS" --cluster-yes \
    >"$DIR/create.log" 2>&1; then
    show_log "$DIR/create.log"
    die "redis-cli --cluster create failed"
  fi
}

up() {
  local p
  mkdir -p "$DIR"
  for p in "${PORTS[@]}"; do start_node "$p"; done
  # Already formed (a second `up`): nothing to do. A node started now is
  # empty and outside any cluster: (re)create it. If all were running but
  # disagree, give them a moment (a failure report clearing) first.
  if ! all_ok && { ((STARTED > 0)) || ! wait_ok 3; }; then
    create_cluster
    if ! wait_ok "$DEADLINE_S"; then
      for p in "${PORTS[@]}"; do
        echo "node $p: $(rcli "$p" cluster info 2>&1 | tr -d '\r' | grep -E 'state|known|assigned' | paste -sd' ' -)" >&2
      done
      die "cluster not ok within ${DEADLINE_S}s"
    fi
  fi
  echo "redis cluster: ok on 127.0.0.1:${PORTS[*]} ($DIR)"
}

down() {
  local p pid
  for p in "${PORTS[@]}"; do
    if pid="$(node_pid "$p")"; then
      rcli "$p" shutdown nosave >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
      local end=$((SECONDS + 20))
      while alive "$pid"; do
        if ((SECONDS >= end)); then
          kill -KILL "$pid" 2>/dev/null || true
          break
        fi
        sleep 0.1
      done
    fi
    # No data survives a stop, so neither does the cluster layout.
    rm -f "$DIR/$p/redis.pid" "$DIR/$p/nodes.conf"
  done
  echo "redis cluster: stopped"
}

status() {
  local p pid rc=0
  for p in "${PORTS[@]}"; do
    if pid="$(node_pid "$p")"; then
      echo "node $p: running pid=$pid cluster_state=$(info_field "$p" cluster_state) slots=$(info_field "$p" cluster_slots_assigned)"
    else
      echo "node $p: stopped"
      rc=1
    fi
  done
  return $rc
}

print_env() {
  local nodes
  nodes="$(printf '127.0.0.1:%s,' "${PORTS[@]}")"
  echo "export SLUICE_TEST_CLUSTER_URL='redis://127.0.0.1:${PORTS[0]}'"
  echo "export SLUICE_TEST_CLUSTER_NODES='${nodes%,}'"
}

case "${1:-}" in
  up) up ;;
  down)
    [[ -z ${2:-} || ${2:-} == --purge ]] || die "usage: $0 down [--purge]"
    down
    if [[ ${2:-} == --purge ]]; then
      rm -rf "$DIR"
      echo "purged $DIR"
    fi
    ;;
  status) status ;;
  env) print_env ;;
  *)
    echo "usage: $0 up | down [--purge] | status | env" >&2
    exit 2
    ;;
esac
