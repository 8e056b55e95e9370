#!/usr/bin/env bash
# gw.sh — the SSH gateway's speed (root), through the real fatbox daemon and a
# real fat container, against the same work done directly, in the same run.
# Not part of `make test`.
#
#  1. loopback: SIZE_MB of random data by scp (sftp protocol) and by rsync
#     (--whole-file, to a new file), up to the container, directly (host →
#     container's sshd) and through the gateway (ssh -J); median of ROUNDS.
#     Printed: each time and direct/gateway (a throughput ratio). Here the
#     gateway's extra decryption and encryption share the 2 cores with both
#     ends. Goal >= 0.6.
#  2. the same to a second container whose link is limited to 1 Gbit/s each
#     way (`fatbox create --net-rate 1gbit`: tbf, ifb): the gateway must not
#     be the bottleneck. Goal >= 0.95.
#  3. N_SESSIONS concurrent sessions each running `true`, directly, through
#     USER+CONTAINER and through -J: each client timed from its start to its
#     exit (login + command); p50/p99 side by side. The container's sshd gets
#     MaxStartups 1000:30:1000 so the direct baseline is not throttled.
#     Goal: p99 adds <= 50 ms.
#
# Uses only 198.19.192.0/24 on a bridge it creates, its own state dir, socket
# and gateway port, and removes all of it on exit.
#   SIZE_MB=200 ROUNDS=3 N_SESSIONS=200 test/bench/gw.sh
set -euo pipefail
[[ $EUID -eq 0 ]] || { echo "gw.sh: run as root" >&2; exit 1; }
cd "$(dirname "$0")/../.."
export PATH=$PATH:/usr/local/go/bin:/usr/sbin:/sbin
SIZE_MB=${SIZE_MB:-200}; ROUNDS=${ROUNDS:-3}; N_SESSIONS=${N_SESSIONS:-200}
for t in ssh scp rsync tc; do command -v $t >/dev/null || { echo "gw.sh: $t is missing: run tools/setup-host.sh --test" >&2; exit 1; }; done
DEB=$(ls /var/cache/fatbox/debs/rsync_*.deb 2>/dev/null | head -1)
[[ -n $DEB ]] || { echo "gw.sh: no rsync .deb in /var/cache/fatbox/debs: run tools/setup-host.sh --test" >&2; exit 1; }

tag=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
TMP=$(mktemp -d /tmp/fatbox-gwbench-XXXXXX)
STATE=$TMP/state SOCK=$TMP/fatbox.sock BR=fbgw$tag NAME=gwb$tag
daemon_pid=""
fb() { "$TMP/fatbox" "$@" --socket "$SOCK"; }
cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	(( rc != 0 )) && [[ -f $TMP/daemon.log ]] && tail -n 20 "$TMP/daemon.log"
	[[ -S $SOCK ]] && { fb rm "$NAME" >/dev/null 2>&1; fb rm "$NAME-l" >/dev/null 2>&1; }
	if [[ -n $daemon_pid ]]; then kill "$daemon_pid" 2>/dev/null; wait "$daemon_pid" 2>/dev/null; fi
	# Whatever rm left (a run cut short): the daemon's runc root, mounts.
	local root c m
	root=/run/fatbox/runc-$(python3 -c 'import hashlib,sys; print(hashlib.sha256(sys.argv[1].encode()).hexdigest()[:12])' "$STATE")
	if [[ -d $root ]]; then
		for c in $(runc --root "$root" list -q 2>/dev/null); do runc --root "$root" delete -f "$c"; done
		rm -rf "$root"
	fi
	for m in $(awk -v t="$TMP" 'index($2, t) == 1 {print $2}' /proc/mounts | sort -r); do umount -l "$m"; done
	if [[ -f $STATE/lxcfs.pid ]]; then kill -9 "$(cat "$STATE/lxcfs.pid")" 2>/dev/null; fi
	umount -l "$STATE/lxcfs" 2>/dev/null
	ip link del "$BR" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

go build -o "$TMP/fatbox" ./tools/fatbox
[[ -x bin/supervisord ]] || make supervisord >/dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
GW=127.0.0.1:$PORT
mkdir -p "$TMP/gw"
ssh-keygen -q -t ed25519 -N '' -C bench -f "$TMP/key"
cat >"$TMP/fatbox.yaml" <<YAML
metrics_listen: "off"
gateway:
  listen: $GW
  config_dir: $TMP/gw
YAML
cat >"$TMP/gw/access.yaml" <<YAML
users:
  bench:
    keys: ["$(cat "$TMP/key.pub")"]
rules:
  - name: all
    users: [bench]
    containers: {name: "$NAME*"}
    logins: [root]
    channels: [shell, exec, sftp]
YAML
# Its own session: a ^C (or timeout's signal) to this script's process
# group must not stop the daemon before cleanup's rm has run.
setsid "$TMP/fatbox" daemon --config "$TMP/fatbox.yaml" --state-dir "$STATE" --socket "$SOCK" \
	--supervisord "$PWD/bin/supervisord" --image-cache /var/cache/fatbox/images >"$TMP/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do fb status >/dev/null 2>&1 && break; sleep 0.1; done
fb pool create bench --cidr 198.19.192.0/24 --bridge "$BR" --create-bridge >/dev/null
fb image build debian12-fat >/dev/null
fb create "$NAME" --image debian12-fat --pool bench --cpus 2 --memory 1G --ssh-key "$TMP/key.pub" >/dev/null
fb create "$NAME-l" --image debian12-fat --pool bench --cpus 2 --memory 1G --net-rate 1gbit --ssh-key "$TMP/key.pub" >/dev/null
cat >"$TMP/ssh_config" <<CFG
Host *
  IdentityFile $TMP/key
  IdentitiesOnly yes
  UserKnownHostsFile $TMP/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
  LogLevel ERROR
  ConnectTimeout 60
CFG
S="ssh -F $TMP/ssh_config"
J="-J bench@$GW"
# known_hosts: the gateway's key and the containers' own (strict checking).
echo "[127.0.0.1]:$PORT $(ssh-keygen -y -f "$STATE/gateway/ssh_host_ed25519_key")" >"$TMP/known_hosts"
prepare() { # container → its IP, ready: MaxStartups for the baseline, rsync from the host's .deb
	local n=$1 ip inst
	ip=$(fb inspect "$n" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["ip"])')
	inst=$(fb inspect "$n" -o json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("instance") or d["name"])')
	awk -v h="$n,$ip" '{print h, $1, $2}' "$STATE/containers/$inst/ssh/ssh_host_ed25519_key.pub" >>"$TMP/known_hosts"
	for _ in $(seq 300); do $S root@"$ip" true 2>/dev/null && break; sleep 0.2; done
	$S root@"$ip" 'echo "MaxStartups 1000:30:1000" >/etc/ssh/sshd_config.d/bench.conf; cat >/tmp/rsync.deb' <"$DEB"
	$S root@"$ip" 'dpkg -i /tmp/rsync.deb >/dev/null 2>&1'
	local up=0 try
	for try in 1 2 3; do # sshd answers again (a restart can race its port's release)
		fb prog restart "$n" sshd >/dev/null
		for _ in $(seq 50); do $S root@"$ip" true 2>/dev/null && { up=1; break; }; sleep 0.2; done
		(( up )) && break
	done
	(( up )) || { echo "gw.sh: $n's sshd does not answer after its restart" >&2; exit 1; }
	echo "$ip"
}
IP=$(prepare "$NAME")
IPL=$(prepare "$NAME-l")

head -c "$((SIZE_MB << 20))" /dev/urandom >"$TMP/payload"
now() { date +%s.%N; }
# median of ROUNDS timings of a command (seconds)
timed() {
	local ts=() t0
	for _ in $(seq "$ROUNDS"); do
		$S root@"$IP" 'rm -f /tmp/up' >/dev/null
		t0=$(now); "$@" >/dev/null || { echo "gw.sh: failed: $*" >&2; exit 1; }
		ts+=("$(awk -v a="$t0" -v b="$(now)" 'BEGIN{print b-a}')")
	done
	printf '%s\n' "${ts[@]}" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'
}
transfers() {
	local label=$1 IP=$2 d g
	d=$(timed scp -F "$TMP/ssh_config" "$TMP/payload" root@"$IP":/tmp/up)
	g=$(timed scp -F "$TMP/ssh_config" $J "$TMP/payload" root@"$IP":/tmp/up)
	awk -v l="$label" -v d="$d" -v g="$g" -v mb="$SIZE_MB" 'BEGIN{printf "%-10s scp   %d MiB: direct %.2f s (%.0f MiB/s), gateway %.2f s (%.0f MiB/s): ratio %.2f\n", l, mb, d, mb/d, g, mb/g, d/g}'
	d=$(timed rsync --whole-file -e "$S" "$TMP/payload" root@"$IP":/tmp/up)
	g=$(timed rsync --whole-file -e "$S $J" "$TMP/payload" root@"$IP":/tmp/up)
	awk -v l="$label" -v d="$d" -v g="$g" -v mb="$SIZE_MB" 'BEGIN{printf "%-10s rsync %d MiB: direct %.2f s (%.0f MiB/s), gateway %.2f s (%.0f MiB/s): ratio %.2f\n", l, mb, d, mb/d, g, mb/g, d/g}'
}
echo "== $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); $(ssh -V 2>&1 | cut -d, -f1) with its default ciphers (the gateway offers AES-GCM only)"
transfers loopback "$IP"
transfers "1 Gbit/s" "$IPL"

# N_SESSIONS at once, each timed from its start to its exit.
sessions() {
	local label=$1; shift
	local out=$TMP/sess.$label
	local pids=()
	: >"$out"
	for i in $(seq "$N_SESSIONS"); do
		( t0=$(now); if "$@" true >/dev/null 2>&1; then echo "$(awk -v a="$t0" -v b="$(now)" 'BEGIN{print (b-a)*1000}')"; else echo fail; fi >>"$out" ) &
		pids+=($!)
	done
	wait "${pids[@]}" # not a bare wait: the daemon is a job of this shell too
	local fails; fails=$(grep -c fail "$out" || true)
	grep -v fail "$out" | sort -g | awk -v l="$label" -v f="$fails" '{a[NR]=$1} END{printf "%-14s %d sessions: p50 %.0f ms, p99 %.0f ms, max %.0f ms, %d failed\n", l, NR+f, a[int(NR*0.5)+1], a[int(NR*0.99)+(NR*0.99>int(NR*0.99))], a[NR], f}'
}
sessions direct $S root@"$IP"
sessions user+name $S -p "$PORT" bench+"$NAME"@127.0.0.1
sessions -J $S $J root@"$IP"
