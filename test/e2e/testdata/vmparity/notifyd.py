#!/usr/bin/python3
"""notifyd: a Type=notify service. It takes a second to start, writes its pid
to /run/notifyd.self, then tells $NOTIFY_SOCKET READY=1 and MAINPID=<pid>:
`systemctl start` must not return before that. SIGTERM ends it (exit 0)."""
import os
import signal
import socket
import sys
import time

SELF = "/run/notifyd.self"


def notify(msg):
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        sys.exit("notifyd: NOTIFY_SOCKET is not set: run it as a Type=notify unit")
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.connect(addr)
        s.sendall(msg.encode())
    finally:
        s.close()


def term(signum, frame):
    try:
        os.unlink(SELF)
    except FileNotFoundError:
        pass
    notify("STOPPING=1")
    sys.exit(0)


signal.signal(signal.SIGTERM, term)
time.sleep(1)  # initialising
with open(SELF + ".tmp", "w") as f:
    f.write("%d\n" % os.getpid())
os.rename(SELF + ".tmp", SELF)
notify("READY=1\nSTATUS=serving\nMAINPID=%d" % os.getpid())
while True:
    time.sleep(3600)
