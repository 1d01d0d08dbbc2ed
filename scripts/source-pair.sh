#!/usr/bin/env bash
# Two MariaDB servers for the source-failover tests: "a" on
# SLUICE_PAIR_A_PORT (default 3341) and "b" on SLUICE_PAIR_B_PORT (3342),
# each the MariaDB of scripts/services.sh (--no-defaults, own datadir,
# socket, pid file, the same users) with a server id of its own, in GTID
# replication: b is a replica of a (log_slave_updates, gtid_strict_mode,
# read_only), so every transaction of a is in b's binlog under the same GTID,
# at other offsets (b's binlog is rotated once).
#
#   bash scripts/source-pair.sh up [--standalone] | down [--purge] | fresh [--standalone]
#   bash scripts/source-pair.sh kill a|b | start a|b | promote a|b | demote a|b
#   bash scripts/source-pair.sh rejoin a|b | env | status
#
# fresh: down --purge, then up: two new datadirs, each binlog starting at
#        binlog.000001 (the tests rely on it).
# --standalone: no replication: two unrelated servers (the blind-resume trap).
# kill: SIGKILL (a crashed primary). promote: stop replicating, read_only off.
# demote: read_only on. rejoin X: X replicates from the other one (from its
# own GTID position: it must not have transactions the other lacks).
#
# Everything lives under $SLUICE_PAIR_DIR (default <repo>/.data/pair).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${SLUICE_PAIR_DIR:-$ROOT/.data/pair}"
A_PORT="${SLUICE_PAIR_A_PORT:-3341}"
B_PORT="${SLUICE_PAIR_B_PORT:-3342}"
# A small footprint: two extra servers on a 2-core test machine.
COMMON_ARGS="--log-slave-updates=ON --gtid-strict-mode=ON --innodb-buffer-pool-size=32M --max-connections=100 --slave-net-timeout=5"
ADMIN_USER=sluice_admin ADMIN_PASS=admin-secret

die() {
  echo "source-pair.sh: $*" >&2
  exit 1
}

port_of() { [[ $1 == a ]] && echo "$A_PORT" || echo "$B_PORT"; }
id_of() { [[ $1 == a ]] && echo 1 || echo 2; }
other() { [[ $1 == a ]] && echo b || echo a; }
check_name() { [[ ${1:-} == a || ${1:-} == b ]] || usage; }

services() { # name command
  SLUICE_DATA_DIR="$DATA/$1" SLUICE_MARIADB_PORT="$(port_of "$1")" \
    SLUICE_MARIADB_SERVER_ID="$(id_of "$1")" SLUICE_MARIADB_ARGS="$COMMON_ARGS" \
    bash "$ROOT/scripts/services.sh" "$2"
}

sql() { # name statements [client options]
  mariadb --no-defaults --socket="$DATA/$1/mariadb/mysqld.sock" -uroot --connect-timeout=5 \
    "${@:3}" -e "$2"
}

value() { sql "$1" "$2" -N; } # name query

pid_of() { tr -dc '0-9' <"$DATA/$1/mariadb/mysqld.pid" 2>/dev/null || true; }

replicate() { # replica primary
  sql "$1" "STOP SLAVE; RESET SLAVE ALL;
    SET GLOBAL gtid_slave_pos = @@GLOBAL.gtid_binlog_pos;
    CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = $(port_of "$2"),
      MASTER_USER = '$ADMIN_USER', MASTER_PASSWORD = '$ADMIN_PASS',
      MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1;
    SET GLOBAL read_only = ON;
    START SLAVE;"
  local end=$((SECONDS + 30)) state
  until state="$(sql "$1" "SHOW SLAVE STATUS\\G" | sed -n 's/^ *Slave_IO_Running: //p')" &&
    [[ $state == Yes ]]; do
    ((SECONDS < end)) || die "$1: replication from $2 did not start: $(sql "$1" 'SHOW SLAVE STATUS\G' | grep -E 'Running|Error' | tr '\n' ' ')"
    sleep 0.2
  done
  echo "$1: replicating from $2 (GTID, slave_pos)"
}

up() { # [--standalone]
  services a start-mariadb
  services b start-mariadb
  if [[ ${1:-} == --standalone ]]; then
    sql b "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = OFF;"
    echo "b: standalone"
  else
    replicate b a
    # A replica's binlog never lines up with its primary's: a's FILE:POS must
    # mean nothing on b (with identical offsets a blind resume would pass).
    sql b "FLUSH BINARY LOGS;"
  fi
}

down() {
  services a stop-mariadb || true
  services b stop-mariadb || true
  if [[ ${1:-} == --purge ]]; then
    rm -rf "$DATA/a" "$DATA/b"
    rmdir "$DATA" 2>/dev/null || true
    echo "purged $DATA"
  fi
}

print_env() {
  local n N
  for n in a b; do
    N="${n^^}"
    echo "export SLUICE_PAIR_${N}_PORT='$(port_of $n)'"
    echo "export SLUICE_PAIR_${N}_SOCKET='$DATA/$n/mariadb/mysqld.sock'"
    echo "export SLUICE_PAIR_${N}_PID_FILE='$DATA/$n/mariadb/mysqld.pid'"
  done
}

usage() {
  echo "usage: $0 up [--standalone] | down [--purge] | fresh [--standalone] | kill a|b | start a|b | promote a|b | demote a|b | rejoin a|b | env | status" >&2
  exit 2
}

case "${1:-}" in
  up) up "${2:-}" ;;
  down) down "${2:-}" ;;
  fresh)
    down --purge
    up "${2:-}"
    ;;
  kill)
    check_name "${2:-}"
    pid="$(pid_of "$2")"
    [[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null || true
    # Wait until the port is closed: the caller moves the address next.
    end=$((SECONDS + 20))
    while [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; do
      ((SECONDS < end)) || die "$2: pid $pid survived SIGKILL"
      sleep 0.1
    done
    echo "$2: killed"
    ;;
  start)
    check_name "${2:-}"
    services "$2" start-mariadb
    ;;
  promote)
    check_name "${2:-}"
    sql "$2" "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = OFF;"
    echo "$2: primary"
    ;;
  demote)
    check_name "${2:-}"
    sql "$2" "SET GLOBAL read_only = ON;"
    echo "$2: read-only"
    ;;
  rejoin)
    check_name "${2:-}"
    replicate "$2" "$(other "$2")"
    ;;
  env) print_env ;;
  status)
    for n in a b; do
      if sql "$n" 'SELECT 1' >/dev/null 2>&1; then
        echo "$n: running port=$(port_of $n) read_only=$(value "$n" 'SELECT @@read_only') gtid_binlog_pos=$(value "$n" 'SELECT @@gtid_binlog_pos')"
      else
        echo "$n: stopped port=$(port_of $n)"
      fi
    done
    ;;
  *) usage ;;
esac
