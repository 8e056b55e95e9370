#!/usr/bin/env bash
# VM-likeness benchmark (root): how fast a fat container answers SSH, and
# what one costs in memory, through the real `fatbox` binary and daemon.
# Every figure is measured in this run; the method is printed beside it.
#
#  1. create → banner: N_BOOT containers created one after another
#     (`fatbox create bN --image debian12-fat --pool P --cpus 1 --memory 256M
#     --disk 1G`), each timed from starting the command until a TCP connect
#     to IP:22 (tried every 2 ms) reads "SSH-2.0-". p50/p95/min/max.
#     Goal p50 ≤ 150 ms (peers on this machine: LXC+systemd 235 ms,
#     podman+systemd 352 ms).
#  2. start → banner ÷ floor: the same containers stopped, then each
#     `fatbox start bN` timed to the banner; the floor is runc running only
#     sshd on the same image rootfs (see vmbench floor). Medians and their
#     ratio (goal ≤ 2×).
#  3. idle memory: N_MEM running, 10 s after the last banner, each one's
#     memory cgroup. Goal ≤ 12 MiB (peers: LXC+systemd 15, podman+systemd 14).
#  4. where create's time goes: the engine's create steps timed one by one
#     in process (vmbench steps), N_STEPS runs. PROFILE=0 skips it.
#
# Uses only 198.19.60.0/24 on a bridge it creates ("fbvm" + tag), its own
# state dir, socket, runc roots and netns, and removes all of it on exit.
# --supervisord is given absolute: the daemon passes it to runc as is, and
# runc resolves a relative bind source against the bundle dir.
#   N_BOOT=20 N_FLOOR=20 N_MEM=50 N_STEPS=5 PROFILE=1 test/bench/vm.sh
set -euo pipefail
[[ $EUID -eq 0 ]] || { echo "vm.sh: run as root" >&2; exit 1; }
cd "$(dirname "$0")/../.."
export PATH=$PATH:/usr/local/go/bin:/usr/sbin:/sbin

N_BOOT=${N_BOOT:-20}
N_FLOOR=${N_FLOOR:-20}
N_MEM=${N_MEM:-50}
PROFILE=${PROFILE:-1}
N_STEPS=${N_STEPS:-5}
(( N_MEM >= N_BOOT && N_MEM <= 58 )) || { echo "vm.sh: need N_BOOT <= N_MEM <= 58" >&2; exit 1; }

T_START=$(date +%s.%N)
tag=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
TMP=$(mktemp -d /tmp/fatbox-vmbench-XXXXXX)
STATE=$TMP/state SOCK=$TMP/fatbox.sock
BR=fbvm$tag                      # 12 bytes
NET=198.19.60                    # pool: .2-.60 (one 64-address block); floor: .200-
POOL=vmb$tag
BIN=$TMP/bin
FLOOR_RUNC=$TMP/floor-runc
RUNC_ROOT=""                     # the daemon's: engine/daemon.RuncRoot($STATE)
run_fatbox_existed=0; [[ -d /run/fatbox ]] && run_fatbox_existed=1
nft_existed=0
daemon_pid="" names=()

fb() { "$BIN/fatbox" "$@" --socket "$SOCK"; }

cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	echo "== cleanup"
	if (( rc != 0 )) && [[ -f $TMP/daemon.log ]]; then
		echo "-- daemon log (last 30 lines)"; tail -n 30 "$TMP/daemon.log"
		for f in "$STATE"/containers/*/bundle/*.log; do [[ -f $f ]] && { echo "-- $f"; tail -n 20 "$f"; }; done
	fi
	if [[ -n $daemon_pid ]] && kill -0 "$daemon_pid" 2>/dev/null; then
		printf '%s\n' "${names[@]}" | xargs -r -P 4 -I{} "$BIN/fatbox" rm {} --socket "$SOCK" >/dev/null
	fi
	# The floor's leftovers (normally each run is taken down at once).
	if [[ -d $FLOOR_RUNC ]]; then
		for c in $(runc --root "$FLOOR_RUNC" list -q 2>/dev/null); do runc --root "$FLOOR_RUNC" delete -f "$c"; done
	fi
	for n in $(ip netns list | awk '{print $1}' | grep -E "^fbv[bp]-$tag-[0-9]+$"); do ip netns del "$n"; done
	for l in $(ip -o link | grep -E "alias [a-z-]*fbvp-$tag-" | awk -F': ' '{print $2}' | cut -d@ -f1); do ip link del "$l"; done
	for l in $(ip -o link | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E "^fbvb$tag"); do ip link del "$l" 2>/dev/null; done
	for d in /sys/fs/cgroup/*/fbvb-"$tag"; do [[ -d $d ]] && rmdir "$d"/* "$d" 2>/dev/null; done
	if [[ -n $daemon_pid ]]; then kill "$daemon_pid" 2>/dev/null; wait "$daemon_pid" 2>/dev/null; fi
	# What `fatbox rm` should have removed, in case it did not.
	for n in "${names[@]}"; do
		ip netns list | awk '{print $1}' | grep -qx "fatbox-$n" && { echo "leftover netns fatbox-$n" >&2; ip netns del "fatbox-$n"; }
	done
	if [[ -f $STATE/lxcfs.pid ]]; then kill -9 "$(cat "$STATE/lxcfs.pid")" 2>/dev/null; fi
	umount -l "$STATE/lxcfs" 2>/dev/null
	# Any mount left under $TMP, deepest first, then loop devices on its files.
	awk -v t="$TMP/" '{ if (index($5, t) == 1) print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do
		echo "leftover mount $m" >&2; umount -l "$m"
	done
	losetup -a | grep -F "$TMP/" | cut -d: -f1 | while read -r d; do echo "leftover loop $d" >&2; losetup -d "$d"; done
	if [[ -n $RUNC_ROOT && -d $RUNC_ROOT ]]; then
		for c in $(runc --root "$RUNC_ROOT" list -q 2>/dev/null); do runc --root "$RUNC_ROOT" delete -f "$c"; done
		rm -rf "$RUNC_ROOT"
	fi
	(( run_fatbox_existed )) || rmdir /run/fatbox 2>/dev/null
	ip link del "$BR" 2>/dev/null
	if (( ! nft_existed )) && [[ -x $BIN/vmbench ]]; then "$BIN/vmbench" nftclean; fi
	rm -rf "$TMP"
	echo "total wall time: $(awk -v a="$T_START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }') s"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== build"
mkdir -p "$BIN"
make -s supervisord
go build -o "$BIN/fatbox" ./tools/fatbox
go build -o "$BIN/vmbench" ./test/bench/vmbench
VB=$BIN/vmbench
RUNC_ROOT=$("$VB" runcroot "$STATE")
[[ -z $(ip -o link show "$BR" 2>/dev/null) ]] || { echo "vm.sh: $BR exists" >&2; exit 1; }
[[ $("$VB" nftclean -check) == present ]] && nft_existed=1  # the table port security adds; removed at the end only if new
if ip -o addr | grep -qF " $NET."; then echo "vm.sh: $NET.0/24 is in use on this host" >&2; exit 1; fi

echo "== daemon, pool, image"
# The bench packs more 1-CPU containers than the default overcommit (4x the
# host's CPUs) admits on a small host: its own config lifts the ceilings.
printf 'overcommit: {cpu: 100, memory: 4, disk: 100}\n' >"$TMP/fatbox.yaml"
"$BIN/fatbox" daemon --config "$TMP/fatbox.yaml" --state-dir "$STATE" --socket "$SOCK" \
	--supervisord "$PWD/bin/supervisord" --image-cache /var/cache/fatbox/images >"$TMP/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 1 200); do fb status >/dev/null 2>&1 && break; sleep 0.05; done
fb status >/dev/null || { cat "$TMP/daemon.log"; exit 1; }
fb pool create "$POOL" --cidr "$NET.0/24" --range "$NET.2-$NET.60" --bridge "$BR" --create-bridge >/dev/null
t=$(date +%s.%N)
fb image build debian12-fat >/dev/null
echo "image debian12-fat ready in $(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s (cached tarball import)"
# Steady state: a host's daemon keeps RSA host keys ready (the key pool,
# 32 by default); a fresh one is still filling it. Wait until it holds
# enough for the timed creates, and say so. (COLD=1 skips the wait: then
# the creates past the pool pay ~0.1-0.7 s each for an RSA 3072 key.)
if [[ ${COLD:-0} != 1 ]]; then
	t=$(date +%s.%N)
	for _ in $(seq 1 600); do
		n=$(find "$STATE/keypool" -maxdepth 1 -name 'rsa-*.pem' 2>/dev/null | wc -l)
		(( n >= N_BOOT )) && break
		sleep 0.2
	done
	echo "host key pool: $n RSA keys ready after $(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s (the daemon fills it in the background)"
fi
img_id=$(fb image inspect debian12-fat -o json | jq -r .id)
IMG_ROOTFS=$STATE/images/by-id/${img_id#sha256:}/rootfs
[[ -d $IMG_ROOTFS/etc/ssh ]] || { echo "vm.sh: no image rootfs at $IMG_ROOTFS" >&2; exit 1; }

# create_timed NAME IP → "BANNER_MS CMD_MS" appended to $1's file. The IP is
# predicted (the pool hands out its lowest free address) and checked after.
create_timed() {
	local name=$1 ip=$2 out=$3
	names+=("$name")
	"$VB" banner -ip "$ip" -bridge "$BR" -- "$BIN/fatbox" create "$name" --image debian12-fat --pool "$POOL" \
		--cpus 1 --memory 256M --disk 1G --socket "$SOCK" >>"$out"
	local got
	got=$(fb inspect "$name" | jq -r .ip)
	[[ $got == "$ip" ]] || { echo "vm.sh: $name got $got, predicted $ip: its timing is wrong" >&2; exit 1; }
}
ip_of() { echo "$NET.$(( $1 + 1 ))"; }   # b1 → .2

echo
echo "== 1. create → SSH banner, $N_BOOT containers one after another"
echo "   method: from starting \`fatbox create bN --image debian12-fat --pool P --cpus 1 --memory 256M --disk 1G\`"
echo "   until a TCP connect to IP:22 (a new try every 2 ms, bound to the bridge) reads \"SSH-2.0-\""
: >"$TMP/create.txt"
for i in $(seq 1 "$N_BOOT"); do create_timed "b$i" "$(ip_of "$i")" "$TMP/create.txt"; done
echo "   per container (banner ms / create command ms): $(awk '{ printf "%s/%s ", $1, $2 }' "$TMP/create.txt")"
"$VB" stats -label "   create → banner" <"$TMP/create.txt"
"$VB" stats -label "   create command returns" -field 2 <"$TMP/create.txt"
echo "   goal p50 <= 150 ms; peers on this machine: LXC+systemd 235 ms, podman+systemd 352 ms"

echo
echo "== 2. start → SSH banner ÷ floor"
t=$(date +%s.%N)
for i in $(seq 1 "$N_BOOT"); do echo "b$i"; done | xargs -P 4 -I{} "$BIN/fatbox" stop {} --socket "$SOCK" >/dev/null
echo "   (stopped $N_BOOT in $(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s, 4 at a time; not timed below)"
: >"$TMP/start.txt"
for i in $(seq 1 "$N_BOOT"); do
	"$VB" banner -ip "$(ip_of "$i")" -bridge "$BR" -- "$BIN/fatbox" start "b$i" --socket "$SOCK" >>"$TMP/start.txt"
done
mkdir -p "$TMP/floorkeys/etc/ssh" "$TMP/floor"
ssh-keygen -q -A -f "$TMP/floorkeys"
"$VB" floor -n "$N_FLOOR" -image "$IMG_ROOTFS" -keys "$TMP/floorkeys" -bridge "$BR" -ip "$NET.200/24" -gw "$NET.1" \
	-work "$TMP/floor" -runc-root "$FLOOR_RUNC" -tag "$tag" >"$TMP/floor.txt"
echo "   fatbox: \`fatbox stop bN\`, then from starting \`fatbox start bN\` to the banner (same poller); same $N_BOOT containers"
"$VB" stats -label "   fatbox start → banner" <"$TMP/start.txt"
echo "   floor: runc 1.1 running only /bin/sh -c 'mkdir -p /run/sshd && exec /usr/sbin/sshd -D -e' on an overlay of"
echo "   the same image rootfs (under a layer holding host keys made once with ssh-keygen -A, fresh upper on the host fs),"
echo "   with fatbox's own OCI spec (engine/runtime.Spec: namespaces, cgroup limits 1 CPU/256M/4096 pids, seccomp,"
echo "   masked paths) minus supervisord; timer runs from before the overlay mount through netns + veth on the same"
echo "   bridge + address + route + 1 gratuitous ARP, \`runc run -d\`, to the banner. Both sides include netns+veth"
echo "   setup in their timers; neither has a sized ext4 disk in the floor (fatbox's start mounts its loop disk)."
"$VB" stats -label "   floor start → banner" <"$TMP/floor.txt"
"$VB" stats -label "     floor part before runc (overlay, netns, veth, ARP)" -field 2 <"$TMP/floor.txt"
"$VB" stats -label "     floor part in \`runc run -d\`" -field 3 <"$TMP/floor.txt"
med() { "$VB" stats -label x -field "${2:-1}" <"$1" | sed -E 's/.* p50 ([0-9.]+) ms.*/\1/'; }
m_start=$(med "$TMP/start.txt") m_floor=$(med "$TMP/floor.txt")
echo "   medians: fatbox start $m_start ms, floor $m_floor ms, ratio $(awk -v a="$m_start" -v b="$m_floor" 'BEGIN { printf "%.2f", a / b }')x (goal <= 2x)"

echo
echo "== 3. idle memory per container, $N_MEM running"
: >"$TMP/create2.txt"
for i in $(seq $((N_BOOT + 1)) "$N_MEM"); do create_timed "b$i" "$(ip_of "$i")" "$TMP/create2.txt"; done
if [[ -s $TMP/create2.txt ]]; then
	"$VB" stats -label "   (create → banner of b$((N_BOOT + 1))-b$N_MEM, with $N_BOOT+ running)" <"$TMP/create2.txt"
fi
# The last banner was read just now: 10 s from here.
sleep 10
echo "   method: 10 s after the last banner, each container's memory cgroup (v1) read once"
mem_names=(); for i in $(seq 1 "$N_MEM"); do mem_names+=("b$i"); done
"$VB" mem -fatbox "$BIN/fatbox" -socket "$SOCK" "${mem_names[@]}"
echo "   goal <= 12 MiB; peers on this machine: LXC+systemd 15 MiB, podman+systemd 14 MiB"
echo "   (usage and cache include page cache; image files are charged to the first container that read them)"

if (( PROFILE )); then
	echo
	echo "== 4. where create's time goes: engine/engine.go's create steps, in process, with the engine's own"
	echo "   packages (vmbench steps: no daemon, store, ipam, CLI or lxcfs), $N_STEPS runs, medians"
	"$VB" steps -n "$N_STEPS" -image "$IMG_ROOTFS" -supervisord "$PWD/bin/supervisord" -bridge "$BR" -ip "$NET.230/24" \
		-gw "$NET.1" -work "$TMP/steps" -runc-root "$FLOOR_RUNC" -tag "$tag" >"$TMP/steps.txt"
	awk '{ v[$1] = v[$1] " " $2; if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
		END { for (k = 1; k <= n; k++) print order[k], v[order[k]] }' "$TMP/steps.txt" | while read -r step vals; do
		printf '   %-38s median %7.1f ms   (runs: %s)\n' "$step" \
			"$(tr ' ' '\n' <<<"$vals" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')" "$vals"
	done
	m_create=$(med "$TMP/create.txt")
	echo "   fatbox create → banner median (section 1): $m_create ms; the difference from 'total' is the CLI, API,"
	echo "   store and ipam writes, lxcfs, and the first-time work in those runs"
fi
echo
