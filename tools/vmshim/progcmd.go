package main

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/fatbox/fatbox/baseimages/units"
)

// supervisordConf is where firstboot writes the container's supervisord
// configuration (the image's programs).
const supervisordConf = "/etc/supervisor/supervisord.conf"

// programCommands reads the command= of every [program:x] in
// supervisord.conf (not the unit-x confs vmshim writes).
func (s *shim) programCommands() map[string]string {
	if s.progCmds != nil {
		return s.progCmds
	}
	s.progCmds = map[string]string{}
	f, err := os.Open(s.path(supervisordConf))
	if err != nil {
		return s.progCmds
	}
	defer f.Close()
	prog := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "[program:") && strings.HasSuffix(line, "]"):
			prog = strings.TrimSuffix(strings.TrimPrefix(line, "[program:"), "]")
		case strings.HasPrefix(line, "["):
			prog = ""
		case prog != "" && strings.HasPrefix(line, "command"):
			if k, v, ok := strings.Cut(line, "="); ok && strings.TrimSpace(k) == "command" {
				s.progCmds[prog] = strings.TrimSpace(v)
			}
		}
	}
	return s.progCmds
}

// wrappers are programs that run another one: never what identifies a daemon.
var wrappers = map[string]bool{
	"sh": true, "bash": true, "dash": true, "zsh": true, "ksh": true, "busybox": true, "env": true,
	"nice": true, "ionice": true, "setsid": true, "su": true, "sudo": true, "runuser": true, "chpst": true,
	"taskset": true, "stdbuf": true, "timeout": true, "tini": true, "dumb-init": true, "exec": true,
	"java": true, "node": true, "nodejs": true, "perl": true, "ruby": true, "php": true, "mkdir": true,
}

func isWrapper(path string) bool {
	b := filepath.Base(path)
	if wrappers[b] {
		return true
	}
	for _, p := range []string{"python", "perl", "ruby", "php"} {
		if strings.HasPrefix(b, p) {
			return true
		}
	}
	return false
}

// daemonPaths are the absolute paths of regular files in a command line
// (shell -c strings included) that are not wrappers or interpreters: what
// says which daemon the line runs.
func (s *shim) daemonPaths(words []string) map[string]bool {
	out := map[string]bool{}
	for _, w := range words {
		for _, tok := range strings.FieldsFunc(w, func(r rune) bool {
			return r == ' ' || r == '\t' || r == ';' || r == '&' || r == '|' || r == '\'' || r == '"' || r == '(' || r == ')'
		}) {
			if !strings.HasPrefix(tok, "/") || isWrapper(tok) {
				continue
			}
			if st, err := os.Stat(s.path(tok)); err == nil && st.Mode().IsRegular() {
				out[filepath.Clean(tok)] = true
			}
		}
	}
	return out
}

// programRunning finds the image's supervisord program that runs the same
// daemon as the unit's ExecStart= (tomcat10.service and an image's program
// "tomcat" both run /usr/libexec/tomcat10/tomcat-start.sh): starting the
// unit as well would run it twice.
func (s *shim) programRunning(u *units.Unit, progs []procInfo) string {
	if u == nil || len(u.Service.ExecStart) == 0 {
		return ""
	}
	var words []string
	for _, c := range u.Service.ExecStart {
		words = append(words, c.Argv...)
	}
	want := s.daemonPaths(words)
	if len(want) == 0 {
		return ""
	}
	cmds := s.programCommands()
	for _, p := range progs {
		cmd, ok := cmds[p.Name]
		if !ok || strings.HasPrefix(p.Name, programPrefix) {
			continue
		}
		for path := range s.daemonPaths([]string{cmd}) {
			if want[path] {
				return p.Name
			}
		}
	}
	return ""
}

// programs lists supervisord's programs. Without access to its socket (a
// user other than root) it falls back to programsFromConf.
func (s *shim) programs() ([]procInfo, error) {
	progs, err := s.ctl().all()
	if err != nil && (errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM)) {
		return s.programsFromConf(), err
	}
	return progs, err
}

// programsFromConf lists the programs of supervisord.conf, each Running
// with the pid of the oldest process whose command line holds its daemon's
// path, or Stopped: enough for systemctl status and is-active.
func (s *shim) programsFromConf() []procInfo {
	table, _ := readProcTable()
	cmdlines := map[int]string{}
	for pid := range table {
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); err == nil {
			cmdlines[pid] = " " + strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ") + " "
		}
	}
	var out []procInfo
	cmds := s.programCommands()
	for _, name := range sortedKeys(cmds) {
		p := procInfo{Name: name, Statename: "Stopped"}
		for path := range s.daemonPaths([]string{cmds[name]}) {
			for pid, cl := range cmdlines {
				if strings.Contains(cl, " "+path+" ") && (p.Pid == 0 || table[pid].Start < table[p.Pid].Start) {
					p.Pid, p.Statename = pid, "Running"
				}
			}
		}
		out = append(out, p)
	}
	return out
}
