#!/usr/bin/env python3
"""Regenerate oracle.golden from systemd 252's own view of units:
    python3 gen-oracle.py > oracle.golden
For each test root (debian/: Debian 12 unit files; oracle/: synthetic units
with drop-ins, aliases, templates), it runs `systemd --test --system` (as
nobody: test mode refuses root) with the root's /etc, /run and /lib unit
directories as the only unit path, and records each unit's dump as JSON:
{"root", "unit", "fields": {key: [values]}}; Exec* keys hold argv lists."""
import json, os, re, shutil, subprocess, sys, tempfile

ROOTS = {
    "debian": ["apt-daily-upgrade.service", "apt-daily-upgrade.timer", "apt-daily.service", "apt-daily.timer",
               "cron.service", "dpkg-db-backup.service", "dpkg-db-backup.timer", "e2scrub_all.service",
               "e2scrub_all.timer", "e2scrub_reap.service", "e2scrub@dev-sda1.service", "e2scrub_fail@dm-0.service",
               "logrotate.service", "logrotate.timer", "nginx.service", "rsyslog.service", "ssh.service",
               "apache-htcacheclean.service", "apache-htcacheclean@web.service", "apache2.service", "apache2@site.service",
               "haproxy.service", "mariadb.service", "mariadb@bootstrap.service", "mariadb@db2.service", "memcached.service",
               "pg_basebackup@15-main.service", "pg_basebackup@15-main.timer", "pg_dump@15-main.service", "pg_dump@15-main.timer",
               "postgresql.service", "postgresql@15-main.service", "php8.2-fpm.service", "redis-server.service",
               "redis-server@cache.service"],
    "oracle": ["web.service", "app@one.service", "app@two.service", "my-app-worker.service", "batch.service"],
}

def unquote(s):
    i, words = 0, []
    esc = {"n": "\n", "t": "\t", "a": "\a", "b": "\b", "f": "\f", "r": "\r", "v": "\v"}
    while i < len(s):
        while i < len(s) and s[i] == " ":
            i += 1
        if i >= len(s):
            break
        w = ""
        if s[i] == '"':
            i += 1
            while s[i] != '"':
                if s[i] == "\\":
                    i += 1
                    if s[i] in esc:
                        w += esc[s[i]]
                    elif s[i] == "x":
                        w += chr(int(s[i+1:i+3], 16)); i += 2
                    else:
                        w += s[i]
                else:
                    w += s[i]
                i += 1
            i += 1
        else:
            while i < len(s) and s[i] != " ":
                w += s[i]; i += 1
        words.append(w)
    return words

for root, units in ROOTS.items():
    tmp = tempfile.mkdtemp()
    os.chmod(tmp, 0o755)
    r = os.path.join(tmp, "r")
    shutil.copytree(root, r, symlinks=True)
    for dp, dns, fns in os.walk(r):
        os.chmod(dp, 0o755)
        for f in fns:
            p = os.path.join(dp, f)
            if not os.path.islink(p):
                os.chmod(p, 0o644)
    sysdirs = [os.path.join(r, d, "systemd/system") for d in ("etc", "run", "lib")]
    for d in sysdirs:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(sysdirs[1], "zz-all.target"), "w") as f:
        f.write("[Unit]\nWants=%s\n" % " ".join(units))
    os.chmod(os.path.join(sysdirs[1], "zz-all.target"), 0o644)
    p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env",
                        "SYSTEMD_LOG_TARGET=console", "SYSTEMD_UNIT_PATH=" + ":".join(sysdirs),
                        "/lib/systemd/systemd", "--test", "--system", "--unit=zz-all.target"],
                       capture_output=True, text=True)
    for block in re.split(r"\n\t-> Unit ", p.stdout)[1:]:
        name, _, body = block.partition(":\n")
        fields, group = {}, None
        for line in body.split("\n"):
            if line.startswith("\t\t-> "):
                group = line.strip()[3:].rstrip(":")
                fields.setdefault(group, [])
                continue
            if line.startswith("\t\t\t") and group:
                k, _, v = line.strip().partition(": ")
                if k == "Command Line":
                    fields[group].append(unquote(v))
                continue
            if not line.startswith("\t\t") or line.startswith("\t\t\t"):
                continue
            group = None
            k, _, v = line.strip().partition(": ")
            fields.setdefault(k, []).append(v.replace(r, "") if k in ("Fragment Path", "DropIn Path") else v)
        if name in units or name.startswith(("web", "app@", "my-", "batch")):
            print(json.dumps({"root": root, "unit": name, "fields": fields}, sort_keys=True))
    shutil.rmtree(tmp)
