#!/usr/bin/env bash
# Bridge overhead benchmark (root): TCP throughput container → container
# through engine/network's bridge + veth pairs (with its port security), and
# over a bare veth pair between two other netns, in the same run.
# Prints both rates and their ratio (goal ≥ 0.9). Uses only 198.19.18.0/24
# and 198.19.19.0/24, only links and netns it creates ("fbn" names), no host
# addresses or routes, and removes everything on exit.
#   ROUNDS=2 SECONDS_PER_RUN=3 test/bench/net.sh
set -euo pipefail
[[ $EUID -eq 0 ]] || { echo "net.sh: run as root" >&2; exit 1; }
cd "$(dirname "$0")/../.."
export PATH=$PATH:/usr/local/go/bin

ROUNDS=${ROUNDS:-2}
SECS=${SECONDS_PER_RUN:-3}
tag=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
BR=fbnbb$tag                     # 13 bytes
NS=(fbn-bench-$tag-a fbn-bench-$tag-b fbn-bench-$tag-c fbn-bench-$tag-d)
C1=fbn-bench-$tag-1 C2=fbn-bench-$tag-2
VA=fbnva$tag VB=fbnvb$tag
TMP=$(mktemp -d)
BIN=$TMP/netbench

cleanup() {
	set +e
	if [[ -x $BIN ]]; then "$BIN" detach -container "$C1"; "$BIN" detach -container "$C2"; fi
	ip link del "$BR" 2>/dev/null
	ip link del "$VA" 2>/dev/null
	for n in "${NS[@]}"; do ip netns del "$n" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

go build -o "$BIN" ./test/bench/netbench
for n in "${NS[@]}"; do ip netns add "$n"; done

# Path 1: two "containers" on a bridge, attached by engine/network.
"$BIN" attach -container "$C1" -netns "/var/run/netns/${NS[0]}" -bridge "$BR" -create-bridge -addr 198.19.19.2/24
"$BIN" attach -container "$C2" -netns "/var/run/netns/${NS[1]}" -bridge "$BR" -addr 198.19.19.3/24

# Path 2: a bare veth pair between two other netns.
ip link add "$VA" type veth peer name "$VB"
ip link set "$VA" netns "${NS[2]}"
ip link set "$VB" netns "${NS[3]}"
ip -n "${NS[2]}" addr add 198.19.18.2/24 dev "$VA"
ip -n "${NS[3]}" addr add 198.19.18.3/24 dev "$VB"
for i in 2 3; do
	ip -n "${NS[$i]}" link set lo up
done
ip -n "${NS[2]}" link set "$VA" up
ip -n "${NS[3]}" link set "$VB" up

# measure SENDER_NS RECEIVER_NS RECEIVER_IP → bit/s
measure() {
	ip netns exec "$2" "$BIN" recv -listen "$3:5201" >"$TMP/rate" &
	local rpid=$!
	ip netns exec "$1" "$BIN" send -to "$3:5201" -seconds "$SECS"
	wait "$rpid"
	cat "$TMP/rate"
}

gbit() { awk -v v="$1" 'BEGIN { printf "%.2f", v / 1e9 }'; }
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b ? a : b) }'; }

best_br=0 best_bare=0
for r in $(seq "$ROUNDS"); do
	br=$(measure "${NS[0]}" "${NS[1]}" 198.19.19.3)
	bare=$(measure "${NS[2]}" "${NS[3]}" 198.19.18.3)
	echo "round $r: bridge $(gbit "$br") Gbit/s, bare veth $(gbit "$bare") Gbit/s"
	best_br=$(max "$br" "$best_br")
	best_bare=$(max "$bare" "$best_bare")
done
ratio=$(awk -v a="$best_br" -v b="$best_bare" 'BEGIN { printf "%.3f", a / b }')
echo "best of $ROUNDS x ${SECS}s: bridge (engine/network) $(gbit "$best_br") Gbit/s, bare veth $(gbit "$best_bare") Gbit/s, ratio $ratio (goal >= 0.9)"
