#!/usr/bin/env python3
"""Regenerate sysv.golden from systemd 252's systemd-sysv-generator:
    python3 gen-sysv.py > sysv.golden
It runs the generator over sysv/etc/init.d (scripts from Debian 12
packages, plus noreload and nolsb written for the reload and no-LSB-header
cases) and records each generated unit's settings as JSON lines
{"unit", "fields": {key: [values]}}; paths are relative to the root."""
import json, os, shutil, subprocess, tempfile

tmp = tempfile.mkdtemp()
root = os.path.join(tmp, "r")
shutil.copytree("sysv", root, symlinks=True)
out = os.path.join(tmp, "out")
units = os.path.join(tmp, "units")
os.makedirs(out)
os.makedirs(units)
env = dict(os.environ, SYSTEMD_SYSVINIT_PATH=os.path.join(root, "etc/init.d"),
           SYSTEMD_SYSVRCND_PATH=os.path.join(root, "etc"), SYSTEMD_UNIT_PATH=units)
subprocess.run(["/lib/systemd/system-generators/systemd-sysv-generator", out, out, out], env=env, check=True)
for name in sorted(os.listdir(out)):
    p = os.path.join(out, name)
    if not name.endswith(".service") or os.path.islink(p):
        continue
    fields = {}
    for line in open(p):
        line = line.strip()
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            fields.setdefault(k, []).append(v.replace(root, ""))
    print(json.dumps({"unit": name, "fields": fields}, sort_keys=True))
shutil.rmtree(tmp)
