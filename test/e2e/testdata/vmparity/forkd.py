#!/usr/bin/python3
"""forkd: a classic double-forking daemon that writes no pid file.

The process started exits once the daemon (its grandchild, in a new session)
is up; the daemon writes its own pid to /run/forkd.self -- for the test to
compare with what systemctl says, not a PIDFile: the unit names none.
SIGTERM ends it cleanly (exit 0); it runs until then.
"""
import os
import signal
import sys
import time

SELF = "/run/forkd.self"


def daemon(ready_fd):
    os.chdir("/")
    os.umask(0o022)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    with open(SELF + ".tmp", "w") as f:
        f.write("%d\n" % os.getpid())
    os.rename(SELF + ".tmp", SELF)

    def term(signum, frame):
        try:
            os.unlink(SELF)
        except FileNotFoundError:
            pass
        os._exit(0)

    signal.signal(signal.SIGTERM, term)
    os.write(ready_fd, b"1")
    os.close(ready_fd)
    while True:
        time.sleep(3600)


def main():
    r, w = os.pipe()
    if os.fork() > 0:
        # The process systemd started: wait for the daemon to be up, then exit 0.
        os.close(w)
        ok = os.read(r, 1)
        sys.exit(0 if ok == b"1" else 1)
    os.close(r)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)  # the session leader goes: the daemon can never get a terminal
    daemon(w)


main()
