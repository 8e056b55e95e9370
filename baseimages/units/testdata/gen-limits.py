#!/usr/bin/env python3
"""Regenerate limits.golden from the real pam_limits (Debian 12 libpam 1.5.2):
    python3 gen-limits.py > limits.golden
For each limits/*.conf and user (root, nobody, postgres: the host's users,
recorded with their uid and groups), a child process opens a PAM session
with pam_limits.so conf=<file> through pam_start_confdir (a private PAM
config dir; nothing in /etc/pam.d changes) and reports its limits before
and after, and PID 1's (Debian's pam_limits starts every limit from
/proc/1/limits). Values are soft,hard (-1 = unlimited). Without CAP_SYS_RESOURCE
(a docker-like host) raising a hard limit fails and pam_limits leaves it:
the Go test applies the same kernel rule."""
import ctypes, ctypes.util, grp, json, os, pwd, resource, subprocess, sys, tempfile

ITEMS = ["NOFILE", "NPROC", "CORE", "MEMLOCK", "CPU", "STACK", "NICE", "AS"]

def probe(confdir, user):
    libpam = ctypes.CDLL(ctypes.util.find_library("pam"))
    CONV = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
    class PamConv(ctypes.Structure):
        _fields_ = [("conv", CONV), ("appdata", ctypes.c_void_p)]
    conv = PamConv(CONV(lambda n, m, r, a: 0), None)
    lim = lambda: {i.lower(): list(resource.getrlimit(getattr(resource, "RLIMIT_" + i))) for i in ITEMS}
    # Lower soft limits below their hard ones, so a "hard"-only line can be
    # seen to leave the soft limit alone (lowering needs no privilege).
    for item, soft in (("NOFILE", 1024), ("NPROC", 1000)):
        r = getattr(resource, "RLIMIT_" + item)
        resource.setrlimit(r, (soft, resource.getrlimit(r)[1]))
    before = lim()
    h = ctypes.c_void_p()
    assert libpam.pam_start_confdir(b"probe", user.encode(), ctypes.byref(conv), confdir.encode(), ctypes.byref(h)) == 0
    rc = libpam.pam_open_session(h, 0)
    init = {}
    names = {"Max cpu time": "cpu", "Max stack size": "stack", "Max core file size": "core", "Max processes": "nproc",
             "Max open files": "nofile", "Max locked memory": "memlock", "Max address space": "as", "Max nice priority": "nice"}
    for line in open("/proc/1/limits").read().splitlines()[1:]:
        for k, item in names.items():
            if line.startswith(k):
                f = line[len(k):].split()
                init[item] = [-1 if v == "unlimited" else int(v) for v in f[:2]]
    print(json.dumps({"rc": rc, "before": before, "after": lim(), "init": init}))

if len(sys.argv) == 4 and sys.argv[1] == "probe":
    probe(sys.argv[2], sys.argv[3])
    sys.exit(0)

for conf in sorted(os.listdir("limits")):
    path = os.path.abspath(os.path.join("limits", conf))
    confdir = tempfile.mkdtemp()
    with open(os.path.join(confdir, "probe"), "w") as f:
        f.write("session required pam_limits.so conf=%s\n" % path)
    for user in ("root", "nobody", "postgres"):
        pw = pwd.getpwnam(user)
        groups = sorted({grp.getgrgid(pw.pw_gid).gr_name} | {g.gr_name for g in grp.getgrall() if user in g.gr_mem})
        out = subprocess.run([sys.executable, __file__, "probe", confdir, user], capture_output=True, text=True, check=True).stdout
        rec = json.loads(out)
        rec.update({"conf": conf, "user": user, "uid": pw.pw_uid, "gid": pw.pw_gid, "groups": groups})
        print(json.dumps(rec, sort_keys=True))
