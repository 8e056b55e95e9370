#!/usr/bin/env python3
"""Regenerate enable.golden from systemd 252's systemctl working offline on
copies of debian/ and oracle/ (systemctl --root=DIR: no running systemd):
    python3 gen-enable.py > enable.golden
For each unit: is-enabled in the tree as committed, and the output of
enable and of disable, each on a fresh copy. /etc/init.d is left out of the
copies so systemctl does not hand SysV scripts to update-rc.d."""
import json, os, shutil, subprocess, tempfile

ROOTS = {"debian": None, "oracle": ["tty@.service", "tty@tty2.service", "tty@tty3.service", "pair.service", "helper.service",
                                     "only-also.service", "masked.service", "web.service", "www.service", "app@.service"]}
DEBIAN = ["nginx.service", "ssh.service", "sshd.service", "cron.service", "rsyslog.service", "logrotate.timer",
         "logrotate.service", "apt-daily.timer", "e2scrub@.service", "e2scrub_reap.service", "e2scrub_all.timer",
         "dpkg-db-backup.timer", "mariadb.service", "mysql.service", "redis-server.service", "postgresql.service",
         "postgresql@15-main.service", "pg_dump@15-main.timer", "apache2@.service", "apache-htcacheclean@.service",
         "mariadb@bootstrap.service"]

def fresh(root):
    tmp = tempfile.mkdtemp()
    r = os.path.join(tmp, "r")
    shutil.copytree(root, r, symlinks=True, ignore=shutil.ignore_patterns("init.d", "rc?.d"))
    return tmp, r

def run(r, *args):
    p = subprocess.run(["systemctl", "--root=" + r, "--no-reload", "--no-pager"] + list(args),
                       capture_output=True, text=True, env=dict(os.environ, SYSTEMD_COLORS="0", LC_ALL="C"))
    lines = [l.replace(r, "") for l in (p.stdout + p.stderr).splitlines()]
    return p.returncode, lines

for root, units in ROOTS.items():
  for u in units or DEBIAN:
    rec = {"root": root, "unit": u}
    for op in ("is-enabled", "enable", "disable"):
        tmp, r = fresh(root)
        rc, lines = run(r, op, u)
        rec[op] = {"rc": rc, "out": lines}
        shutil.rmtree(tmp)
    print(json.dumps(rec, sort_keys=True))
