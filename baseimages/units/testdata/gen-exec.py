#!/usr/bin/env python3
"""Regenerate exec.golden from systemd 252's own parser:
    python3 gen-exec.py > exec.golden
It writes one template unit per line of exec.cases (ExecStart=<line>),
loads instance e<N>@a-b\\x2dc.service of each with `systemd --test --system`
(as nobody: test mode refuses root) and records the argv systemd would
exec ("Command Line:" of the dump; for "@" that is argv0 and the rest) or
"ERROR" when systemd drops the line. Each output line: case, TAB, JSON."""
import json, os, re, subprocess, sys, tempfile

cases = [l.rstrip("\n") for l in open("exec.cases") if l.strip() and not l.startswith("#")]
d = tempfile.mkdtemp()
os.chmod(d, 0o755)
inst = "a-b\\x2dc"
names = []
for i, c in enumerate(cases):
    with open(os.path.join(d, "e%d@.service" % i), "w") as f:
        f.write("[Service]\nType=oneshot\nExecStart=%s\n" % c)
    names.append("e%d@%s.service" % (i, inst))
with open(os.path.join(d, "zz-all.target"), "w") as f:
    f.write("[Unit]\nWants=%s\n" % " ".join(names))
for n in os.listdir(d):
    os.chmod(os.path.join(d, n), 0o644)
p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                    "env", "SYSTEMD_LOG_TARGET=console", "SYSTEMD_UNIT_PATH=%s:" % d,
                    "/lib/systemd/systemd", "--test", "--system", "--unit=zz-all.target"],
                   capture_output=True, text=True)
dump = p.stdout + p.stderr

def unquote(s):
    out, i, words = "", 0, []
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
                    esc = {"n": "\n", "t": "\t", "a": "\a", "b": "\b", "f": "\f", "r": "\r", "v": "\v"}
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

blocks = re.split(r"\n\t-> Unit ", dump)
byname = {}
for b in blocks:
    head = b.split(":\n", 1)[0]
    byname[head] = b
for i, c in enumerate(cases):
    b = byname.get(names[i]) or byname.get(names[i].replace("\\", "\\\\"))
    cmds = []
    if b:
        for line in b.split("\n"):
            line = line.strip()
            if line.startswith("Command Line: "):
                cmds.append(unquote(line[len("Command Line: "):]))
    warn = [l.split(": ", 1)[1] for l in dump.split("\n") if "/e%d@.service:" % i in l]
    print(c + "\t" + (json.dumps(cmds) if cmds else "ERROR") + "\t" + " | ".join(warn))
