#!/usr/bin/env bash
# ipam.sh — allocation speed of fatbox's ipam, side by side with CNI's host-local.
#
# Prints, for each: allocations/s, mean cost of the first and the last 1,000
# allocations, and their ratio (goal for fatbox on the embedded store, filling
# a /16: last/first ≤ 1.5). All figures are measured in this run.
#
#   HOSTLOCAL_N=5000  how many host-local allocations (it is slow; its growth shows by 5,000)
#   CLI_N=2000        how many `fatbox ip allocate` calls
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin"
HOSTLOCAL_N=${HOSTLOCAL_N:-5000}
CLI_N=${CLI_N:-2000}
FULL=65533   # usable addresses of 198.18.0.0/16 minus the gateway

if [ ! -x /usr/lib/cni/host-local ]; then
  echo "installing containernetworking-plugins (for host-local)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq containernetworking-plugins >/dev/null
fi
tools/setup-host.sh --test >/dev/null
make -s build
go build -o bin/ipamfill ./test/bench/ipamfill

tmp=$(mktemp -d)
daemon_pid=""; consul_pid=""
cleanup() {
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null || true
  [ -n "$consul_pid" ] && kill "$consul_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "== go test -bench (allocations per second on each backend)"
go test -run '^$' -bench 'BenchmarkAllocate' -benchtime 2000x ./ipam | grep -E '^Benchmark'

echo
echo "== filling 198.18.0.0/16"
# fatbox in-process, embedded store, the whole /16.
bin/ipamfill -label "fatbox in-process (bolt) /16" -store "bolt://$tmp/inproc.db" -n $FULL

# fatbox in-process on Consul, first 5,000.
cdir="$tmp/consul"; mkdir -p "$cdir"
hp=$(free_port)
cat > "$cdir/ports.hcl" <<HCL
ports { http = $hp, dns = -1, serf_lan = $(free_port), serf_wan = $(free_port), server = $(free_port), grpc = -1, grpc_tls = -1 }
HCL
/var/cache/fatbox/consul agent -dev -client 127.0.0.1 -bind 127.0.0.1 -data-dir "$cdir/data" -config-file "$cdir/ports.hcl" -log-level error >"$cdir/log" 2>&1 &
consul_pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$hp/v1/status/leader" | grep -q : && break; sleep 0.1; done
bin/ipamfill -label "fatbox in-process (consul) 5,000" -store "consul://127.0.0.1:$hp/bench" -n 5000

# fatbox through the CLI, one process per allocation like a deploy script:
# the first CLI_N on an empty pool, and the last CLI_N of the /16 (the rest
# prefilled in-process on the same embedded store while the daemon runs).
state="$tmp/state"; sock="$tmp/fatbox.sock"
bin/fatbox daemon --config /dev/null --state-dir "$state" --socket "$sock" 2>"$tmp/daemon.log" &
daemon_pid=$!
for _ in $(seq 1 100); do bin/fatbox status --socket "$sock" >/dev/null 2>&1 && break; sleep 0.1; done
bin/fatbox pool create bench --cidr 198.18.0.0/16 --bridge fbbench --socket "$sock" >/dev/null
bin/ipamfill -label "fatbox ip allocate (CLI), first" -mode cli -fatbox bin/fatbox -socket "$sock" -n "$CLI_N"
bin/ipamfill -label "  (prefill in-process)" -store "bolt://$state/state.db" -create-pool=false -from "$CLI_N" -n $((FULL - CLI_N)) >/dev/null
bin/ipamfill -label "fatbox ip allocate (CLI), last" -mode cli -fatbox bin/fatbox -socket "$sock" -from $((FULL - CLI_N)) -n $FULL

# CNI host-local, exec'd once per allocation.
mkdir -p "$tmp/hostlocal"
bin/ipamfill -label "CNI host-local (exec) $HOSTLOCAL_N" -mode hostlocal -datadir "$tmp/hostlocal" -n "$HOSTLOCAL_N"
