#!/usr/bin/env bash
# run.sh start|stop — run the fatbox daemon on this machine in the background
# with the built-in defaults (embedded store in /var/lib/fatbox, socket
# /run/fatbox/fatbox.sock). Used by `make run` and `make stop`.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FATBOX_BIN:-$PWD/bin/fatbox}
PIDFILE=/run/fatbox/daemon.pid
LOG=${FATBOX_LOG:-/var/log/fatbox.log}

# demo: a pool on a bridge of its own (198.18.100.0/24, the benchmarking
# range; the host holds the gateway .1 on the bridge, nothing is routed
# outside), the debian12-fat image, and a container reachable by ssh.
demo() {
  key=${FATBOX_DEMO_KEY:-$HOME/.ssh/id_ed25519}
  if [ ! -f "$key.pub" ]; then
    mkdir -p "$(dirname "$key")"; ssh-keygen -q -t ed25519 -N "" -f "$key"
  fi
  "$BIN" pool show demo >/dev/null 2>&1 ||
    "$BIN" pool create demo --cidr 198.18.100.0/24 --bridge fbdemo0 --create-bridge >/dev/null
  "$BIN" image inspect debian12-fat >/dev/null 2>&1 || "$BIN" image build debian12-fat >/dev/null
  if ! "$BIN" ls | grep -q '^demo '; then
    "$BIN" create demo --image debian12-fat --pool demo --cpus 1 --memory 512M --disk 2G --ssh-key "$key.pub" >/dev/null
  fi
  ip=$("$BIN" ls -o json | python3 -c 'import json,sys; print([c["ip"] for c in json.load(sys.stdin) if c["name"]=="demo"][0])')
  "$BIN" ls
  echo
  echo "ssh -i $key root@$ip"
}

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

case "${1:-start}" in
start)
  if running; then
    echo "fatbox daemon already running (pid $(cat "$PIDFILE")); \`make stop\` stops it"
  else
    mkdir -p /run/fatbox
    # Containers' ulimits cannot pass the daemon's own hard limits (without
    # CAP_SYS_RESOURCE): raise what this shell may, as fatbox.service does.
    ulimit -Hn 1048576 2>/dev/null && ulimit -Sn 1048576 2>/dev/null || true
    setsid "$BIN" daemon >>"$LOG" 2>&1 < /dev/null &
    echo $! > "$PIDFILE"
    for _ in $(seq 1 300); do   # it answers once it has reconciled (autostarts included)
      "$BIN" status >/dev/null 2>&1 && break
      if ! running; then echo "fatbox daemon exited; its log:" >&2; tail -n 20 "$LOG" >&2; exit 1; fi
      sleep 0.1
    done
  fi
  "$BIN" status
  echo
  demo
  echo
  echo "log: $LOG    stop: make stop (containers keep running)    try: $BIN ls"
  ;;
stop)
  if running; then
    kill "$(cat "$PIDFILE")"
    for _ in $(seq 1 100); do running || break; sleep 0.1; done
    echo "fatbox daemon stopped"
  else
    echo "fatbox daemon not running"
  fi
  rm -f "$PIDFILE"
  ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
