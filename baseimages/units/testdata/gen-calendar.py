#!/usr/bin/env python3
"""Regenerate calendar.golden from systemd-analyze (package systemd; it does
not need systemd as PID 1):  python3 gen-calendar.py > calendar.golden

Each line: TZ <TAB> base (unix) <TAB> expression <TAB> normalized form or
ERROR <TAB> up to 5 next elapses as unix seconds ("never" when none)."""
import calendar, subprocess, sys, time

BASES = [1796180400, 1774746000 - 7200, 1792890000 - 3600]  # 2026-12-02 03:00 UTC; 2026-03-29 00:00 UTC (DST starts in Europe/Berlin); 2026-10-25 00:00 UTC (DST ends)
EXPRS = open(sys.argv[1] if len(sys.argv) > 1 else "calendar.exprs").read().split("\n")

def run(tz, base, expr):
    p = subprocess.run(["systemd-analyze", "calendar", "--base-time=@%d" % base, "--iterations=5", expr],
                       env={"TZ": tz, "PATH": "/usr/bin:/bin", "SYSTEMD_COLORS": "0", "LC_ALL": "C"},
                       capture_output=True, text=True)
    if p.returncode != 0:
        return "ERROR", []
    norm, elapses, utc = None, [], tz == "UTC"
    for line in p.stdout.splitlines():
        k, _, v = line.strip().partition(": ")
        if k == "Normalized form":
            norm = v
        elif k == "Next elapse" and v == "never":
            break
        elif (k == "(in UTC)") or (utc and (k == "Next elapse" or k.startswith("Iter."))):
            # "Thu 2026-12-03 00:00:00 UTC"
            elapses.append(calendar.timegm(time.strptime(v.rsplit(" ", 1)[0], "%a %Y-%m-%d %H:%M:%S")))
    return norm, elapses

for expr in EXPRS:
    if not expr.strip() or expr.startswith("#"):
        continue
    for tz in ("UTC", "Europe/Berlin"):
        for base in BASES:
            norm, el = run(tz, base, expr)
            print("\t".join([tz, str(base), expr, norm, ",".join(map(str, el)) or "never"]))
