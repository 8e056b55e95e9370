#!/usr/bin/env bash
# run.sh start|stop — run the fatbox daemon on this machine in the background
# with the built-in defaults (embedded store in /var/lib/fatbox, socket
# /run/fatbox/fatbox.sock). Used by `make run` and `make stop`.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FATBOX_BIN:-$PWD/bin/fatbox}
PIDFILE=/run/fatbox/daemon.pid
LOG=${FATBOX_LOG:-/var/log/fatbox.log}

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

case "${1:-start}" in
start)
  if running; then
    echo "fatbox daemon already running (pid $(cat "$PIDFILE")); \`make stop\` stops it"
  else
    mkdir -p /run/fatbox
    setsid "$BIN" daemon >>"$LOG" 2>&1 < /dev/null &
    echo $! > "$PIDFILE"
    for _ in $(seq 1 100); do
      "$BIN" status >/dev/null 2>&1 && break
      if ! running; then echo "fatbox daemon exited; its log:" >&2; tail -n 20 "$LOG" >&2; exit 1; fi
      sleep 0.1
    done
  fi
  "$BIN" status
  echo
  echo "log: $LOG    stop: make stop    try: $BIN status -o json"
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
