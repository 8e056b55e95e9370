#!/usr/bin/env bash
# cmdb.sh — CMDB sync speed (root): cmdbsync against a plain upsert loop in
# the same run, on a throwaway MariaDB started the way test/harness starts
# one (mariadb-install-db into a temp dir, mariadbd on a free loopback port,
# the harness's flags). Not part of `make test`.
#
#  1. full sync of N records into an empty table of the default schema:
#     cmdbsync's full reconcile (it reads the inventory's records and events,
#     the table's rows, and inserts) beside a plain loop of
#     INSERT ... ON DUPLICATE KEY UPDATE, one statement per row, BATCH rows
#     per transaction, over the same rows. Goal: ratio <= 1.5.
#  2. incremental sync of CHANGES changes (resizes) among them: one
#     SyncOnce pass, beside the plain loop upserting the changed rows.
#     Goal: <= 50 ms.
# Each figure is the median of ROUNDS rounds; cmdbbench checks that both
# sides end with the same rows.
#   N=10000 CHANGES=10 BATCH=500 ROUNDS=3 test/bench/cmdb.sh
set -euo pipefail
[[ $EUID -eq 0 ]] || { echo "cmdb.sh: run as root (mariadbd --user=root, as the harness runs it)" >&2; exit 1; }
cd "$(dirname "$0")/../.."
export PATH=$PATH:/usr/local/go/bin:/usr/sbin:/sbin
N=${N:-10000}; CHANGES=${CHANGES:-10}; BATCH=${BATCH:-500}; ROUNDS=${ROUNDS:-3}

mariadbd=$(command -v mariadbd || echo /usr/sbin/mariadbd)
install=$(command -v mariadb-install-db || echo /usr/bin/mariadb-install-db)
[[ -x $mariadbd && -x $install ]] || { echo "cmdb.sh: mariadbd or mariadb-install-db not found (Debian package mariadb-server)" >&2; exit 1; }

tmp=$(mktemp -d); chmod 755 "$tmp"
pid=""
cleanup() {
  if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/cmdbbench" ./test/bench/cmdbbench

"$install" --no-defaults --user=root --datadir="$tmp/data" --auth-root-authentication-method=normal --skip-test-db >"$tmp/install.log" 2>&1 \
  || { cat "$tmp/install.log" >&2; exit 1; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$mariadbd" --no-defaults --user=root --datadir="$tmp/data" --bind-address=127.0.0.1 --port="$port" \
  --socket="$tmp/mysqld.sock" --pid-file="$tmp/mysqld.pid" --skip-name-resolve \
  --innodb-buffer-pool-size=32M --skip-log-bin >"$tmp/mariadbd.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/mariadbd.log" >&2; exit 1; }
  sleep 0.1
done
echo "MariaDB $("$mariadbd" --version | awk '{print $3}') on 127.0.0.1:$port (harness flags: innodb-buffer-pool-size=32M, skip-log-bin)"
"$tmp/cmdbbench" -addr "127.0.0.1:$port" -n "$N" -changes "$CHANGES" -batch "$BATCH" -rounds "$ROUNDS" ${CPUPROFILE:+-cpuprofile "$CPUPROFILE"}
