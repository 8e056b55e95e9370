#!/usr/bin/env python3
"""Regenerate rclinks.golden from Debian 12's update-rc.d working offline
(DPKG_ROOT=<copy>, _SKIP_SYSTEMD_NATIVE=1 so it leaves systemd alone; needs
root for unshare --mount):
    python3 gen-rclinks.py > rclinks.golden
For each script of sysv/etc/init.d and each sequence of update-rc.d actions
on a fresh copy, it records the rc?.d links left (path -> target), or
"ERROR" when update-rc.d fails."""
import json, os, shutil, subprocess, tempfile

SEQS = [["defaults"], ["defaults-disabled"], ["defaults", "disable"], ["defaults", "disable", "enable"],
        ["defaults-disabled", "enable"]]
for script in sorted(os.listdir("sysv/etc/init.d")):
    for seq in SEQS:
        tmp = tempfile.mkdtemp()
        shutil.copytree("sysv", tmp, dirs_exist_ok=True, symlinks=True)
        err = None
        for action in seq:
            # update-rc.d enable/disable read the LSB header from the host's
            # /etc/init.d even with DPKG_ROOT: show it the copy's, in a
            # private mount namespace.
            p = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                                'mount --bind "$DPKG_ROOT/etc/init.d" /etc/init.d && exec update-rc.d "$0" "$1"',
                                script, action], capture_output=True, text=True,
                               env=dict(os.environ, DPKG_ROOT=tmp, _SKIP_SYSTEMD_NATIVE="1"))
            if p.returncode != 0:
                err = (p.stderr or p.stdout).strip()
                break
        links = {}
        for dp, dns, fns in os.walk(os.path.join(tmp, "etc")):
            for f in fns:
                full = os.path.join(dp, f)
                if os.path.islink(full) and "/rc" in dp:
                    links["/" + os.path.relpath(full, tmp)] = os.readlink(full)
        print(json.dumps({"script": script, "seq": seq, "error": err, "links": links}, sort_keys=True))
        shutil.rmtree(tmp)
