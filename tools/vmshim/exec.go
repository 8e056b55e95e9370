package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/fatbox/fatbox/baseimages/units"
)

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// execCtx is how a unit's commands run: environment, identity, directory,
// output. Built once per start by run-unit, and by systemctl reload.
type execCtx struct {
	unit     *units.Unit
	env      map[string]string
	acct     account
	asUser   bool // User= given and not root
	dir      string
	stdout   *os.File
	stderr   *os.File
	devNull  *os.File
	ownFiles []*os.File
}

func newInvocationID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// buildExec resolves everything a command of u needs except MAINPID and
// NOTIFY_SOCKET, which the caller adds to env.
func (s *shim) buildExec(u *units.Unit, invocation string) (*execCtx, error) {
	svc := u.Service
	x := &execCtx{unit: u, env: map[string]string{}}
	acct, err := s.lookupAccount(svc.User, svc.Group, svc.SupplementaryGroups)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u.Name, err)
	}
	x.acct = acct
	x.asUser = svc.User != "" && acct.UID != 0 || svc.Group != "" && acct.GID != 0

	for _, k := range svc.PassEnvironment {
		if v, ok := os.LookupEnv(k); ok {
			x.env[k] = v
		}
	}
	x.env["PATH"] = defaultPath
	if lang := s.systemLang(); lang != "" {
		x.env["LANG"] = lang
	}
	x.env["INVOCATION_ID"] = invocation
	if svc.User != "" {
		x.env["HOME"] = acct.Home
		x.env["USER"] = acct.Name
		x.env["LOGNAME"] = acct.Name
		x.env["SHELL"] = acct.Shell
	}
	if u.SysV {
		// Debian's /lib/lsb/init-functions.d/40-systemd sends
		// "/etc/init.d/x start" back to systemctl unless this is set.
		x.env["_SYSTEMCTL_SKIP_REDIRECT"] = "1"
		x.env["SYSTEMCTL_SKIP_REDIRECT"] = "1"
	}
	for _, kv := range svc.Environment {
		if k, v, ok := strings.Cut(kv, "="); ok {
			x.env[k] = v
		}
	}
	for _, ef := range svc.EnvironmentFiles {
		kvs, err := readEnvFile(s.path(ef.Path))
		if err != nil {
			if ef.Optional && errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("%s: EnvironmentFile=%s: %w", u.Name, ef.Path, err)
		}
		for _, kv := range kvs {
			x.env[kv[0]] = kv[1]
		}
	}
	for _, k := range svc.UnsetEnvironment {
		if kk, v, ok := strings.Cut(k, "="); ok {
			if x.env[kk] == v {
				delete(x.env, kk)
			}
		} else {
			delete(x.env, k)
		}
	}

	x.dir = "/"
	switch wd := svc.WorkingDirectory; {
	case wd == "~":
		x.dir = acct.Home
	case wd != "":
		x.dir = wd
	}
	if st, err := os.Stat(x.dir); err != nil || !st.IsDir() {
		if !svc.WorkingDirectoryOptional && svc.WorkingDirectory != "" {
			return nil, fmt.Errorf("%s: WorkingDirectory=%s does not exist: create it or prefix the path with '-'", u.Name, svc.WorkingDirectory)
		}
		x.dir = "/"
	}
	return x, nil
}

// systemLang is LANG from /etc/default/locale or /etc/locale.conf, as
// systemd passes the system locale to services.
func (s *shim) systemLang() string {
	for _, f := range []string{"/etc/locale.conf", "/etc/default/locale"} {
		kvs, err := readEnvFile(s.path(f))
		if err != nil {
			continue
		}
		for _, kv := range kvs {
			if kv[0] == "LANG" {
				return kv[1]
			}
		}
	}
	return ""
}

// readEnvFile parses an EnvironmentFile=: KEY=VALUE lines, # and ;
// comments, single or double quotes, backslash line continuation.
func readEnvFile(path string) ([][2]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][2]string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	var pending string
	for sc.Scan() {
		line := sc.Text()
		if strings.HasSuffix(line, "\\") {
			pending += strings.TrimSuffix(line, "\\")
			continue
		}
		line = strings.TrimSpace(pending + line)
		pending = ""
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			q := v[0]
			v = v[1 : len(v)-1]
			if q == '"' {
				v = strings.NewReplacer(`\"`, `"`, `\\`, `\`, `\$`, `$`).Replace(v)
			}
		}
		out = append(out, [2]string{k, v})
	}
	return out, sc.Err()
}

func (x *execCtx) environ(extra map[string]string) []string {
	m := map[string]string{}
	for k, v := range x.env {
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// openOutput sets up where commands write: StandardOutput=/StandardError=.
// "journal", "syslog", "inherit", "kmsg", "console" all go to run-unit's own
// stdout, which supervisord writes to the unit's log.
func (s *shim) openOutput(x *execCtx, stdout *os.File) error {
	dn, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	x.devNull = dn
	x.ownFiles = append(x.ownFiles, dn)
	open := func(spec string, def *os.File) (*os.File, error) {
		switch {
		case spec == "null":
			return dn, nil
		case strings.HasPrefix(spec, "file:"), strings.HasPrefix(spec, "append:"), strings.HasPrefix(spec, "truncate:"):
			kind, p, _ := strings.Cut(spec, ":")
			flags := os.O_WRONLY | os.O_CREATE
			switch kind {
			case "append":
				flags |= os.O_APPEND
			case "truncate":
				flags |= os.O_TRUNC
			}
			f, err := os.OpenFile(p, flags, 0o644)
			if err != nil {
				return nil, fmt.Errorf("StandardOutput/StandardError=%s: %w", spec, err)
			}
			x.ownFiles = append(x.ownFiles, f)
			return f, nil
		}
		return def, nil
	}
	if x.stdout, err = open(x.unit.Service.StandardOutput, stdout); err != nil {
		return err
	}
	se := x.unit.Service.StandardError
	if se == "" || se == "inherit" {
		x.stderr = x.stdout
		return nil
	}
	x.stderr, err = open(se, stdout)
	return err
}

func (x *execCtx) close() {
	for _, f := range x.ownFiles {
		f.Close()
	}
	x.ownFiles = nil
}

// lookPath finds argv0 as systemd does: absolute, or searched in PATH.
func (s *shim) lookPath(name string, env map[string]string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	path := env["PATH"]
	if path == "" {
		path = defaultPath
	}
	for _, d := range filepath.SplitList(path) {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%q: not found in PATH %s: use an absolute path in the unit", name, path)
}

// spawn starts one command and returns its pid. extra adds to the
// environment (MAINPID, NOTIFY_SOCKET).
func (s *shim) spawn(x *execCtx, c units.Command, extra map[string]string) (int, error) {
	env := map[string]string{}
	for k, v := range x.env {
		env[k] = v
	}
	for k, v := range extra {
		env[k] = v
	}
	argv := c.Argv
	if !c.NoEnvExpand {
		argv = c.Expand(env)
	}
	if len(argv) == 0 {
		return 0, fmt.Errorf("empty command line %q", c.Raw)
	}
	path, err := s.lookPath(argv[0], env)
	if err != nil {
		return 0, err
	}
	if s.root != "/" {
		// Tests: a script that exists only under the test root (an init
		// script in <root>/etc/init.d) runs from there.
		if _, err := os.Stat(path); err != nil {
			if _, err := os.Stat(s.path(path)); err == nil {
				path = s.path(path)
			}
		}
	}
	argv = append([]string(nil), argv...)
	if c.Argv0 != "" {
		argv[0] = c.Argv0
	}
	sys := &syscall.SysProcAttr{Setsid: true}
	if x.asUser && !c.Privileged {
		groups := make([]uint32, 0, len(x.acct.Groups))
		for _, g := range x.acct.Groups {
			groups = append(groups, uint32(g))
		}
		sys.Credential = &syscall.Credential{Uid: uint32(x.acct.UID), Gid: uint32(x.acct.GID), Groups: groups}
	}
	stdout, stderr := x.stdout, x.stderr
	if stdout == nil {
		stdout, stderr = os.Stdout, os.Stderr
	}
	stdin := x.devNull
	if stdin == nil {
		stdin = os.Stdin
	}
	pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{
		Dir:   x.dir,
		Env:   x.environ(extra),
		Files: []uintptr{stdin.Fd(), stdout.Fd(), stderr.Fd()},
		Sys:   sys,
	})
	if err != nil {
		return 0, fmt.Errorf("running %s: %w", strings.Join(argv, " "), err)
	}
	return pid, nil
}

// mainPIDEnv is the MAINPID variable ExecReload= and ExecStop= see.
func mainPIDEnv(pid int) map[string]string {
	if pid <= 0 {
		return map[string]string{"MAINPID": ""}
	}
	return map[string]string{"MAINPID": strconv.Itoa(pid)}
}
