package units

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// [Service] directives and the checks of a service as a whole.

func (b *builder) finishService() error {
	s := &b.u.Service
	at := b.startAt
	if !b.typeSet && b.busName.value != "" {
		return b.unsupported(b.busName, "a service with BusName= and no Type= is Type=dbus, which needs a D-Bus system bus to tell when it is ready; if the daemon does not need D-Bus activation, set Type=simple in a drop-in (systemctl edit)")
	}
	if !b.typeSet && len(s.ExecStart) == 0 {
		s.Type = "oneshot"
	}
	// Parents before children, as systemd creates them.
	for _, d := range []*[]string{&s.RuntimeDirectory, &s.StateDirectory, &s.LogsDirectory, &s.CacheDirectory, &s.ConfigurationDirectory} {
		*d = sortedUnique(*d)
	}
	if s.Type == "oneshot" && !b.startTimeout {
		s.TimeoutStartSec = 0 // systemd: no start timeout for oneshot unless set
	}
	if len(s.ExecStart) == 0 && len(s.ExecStop) == 0 && !b.successAction {
		return fmt.Errorf("%s has no ExecStart= or ExecStop=; add ExecStart= (the shim cannot run it)", b.u.Name)
	}
	if len(s.ExecStart) > 1 && s.Type != "oneshot" {
		return b.unsupported(at, fmt.Sprintf("the service has more than one ExecStart= setting, which is only allowed for Type=oneshot (it is Type=%s); reset it with an empty ExecStart= in the drop-in before setting the new one", s.Type))
	}
	if s.Type == "oneshot" && (s.Restart == "always" || s.Restart == "on-success") {
		return &UnsupportedError{Unit: b.u.Name, File: b.u.Path, Directive: "Restart", Value: s.Restart,
			Why: "Restart=always and Restart=on-success are not allowed for Type=oneshot (as in systemd); use Restart=on-failure"}
	}
	if b.permStartOnly {
		// Deprecated: User=/Group= apply to ExecStart= only.
		for _, cs := range [][]Command{s.ExecStartPre, s.ExecStartPost, s.ExecReload, s.ExecStop, s.ExecStopPost, s.ExecCondition} {
			for i := range cs {
				cs[i].Privileged = true
			}
		}
	}
	if !b.rkill {
		s.RestartKillSignal = s.KillSignal
	}
	if !b.stderr || s.StandardError == "inherit" {
		s.StandardError = s.StandardOutput
	}
	return nil
}

func (b *builder) serviceKey(a assignment) error {
	s := &b.u.Service
	v := a.value
	boolean := func(dst *bool) error {
		x, err := parseBool(v)
		*dst = x
		return err
	}
	timeout := func(dst *time.Duration, def time.Duration) error {
		if v == "" {
			*dst = def
			return nil
		}
		d, inf, err := parseTimespan(v)
		if err != nil {
			return err
		}
		if inf {
			d = 0
		}
		*dst = d
		return nil
	}
	exec := func(dst *[]Command) error {
		if v == "" {
			*dst = nil
			return nil
		}
		cmds, err := parseExec(v, b.spec.resolve)
		if err != nil {
			return err
		}
		*dst = append(*dst, cmds...)
		return nil
	}
	// oneOf sets dst to v if it is one of allowed, else names them.
	oneOf := func(dst *string, allowed ...string) error {
		if !slices.Contains(allowed, v) {
			return fmt.Errorf("unknown %s=%q (%s)", a.key, v, strings.Join(allowed, ", "))
		}
		*dst = v
		return nil
	}
	signal := func(dst *syscall.Signal) error {
		sig, err := parseSignal(v)
		*dst = sig
		return err
	}
	dirs := func(dst *[]string) error {
		if v == "" {
			*dst = nil
			return nil
		}
		ws, err := b.words(v)
		if err != nil {
			return err
		}
		for _, w := range ws {
			w, _, _ = strings.Cut(w, ":") // "dir:symlink" (systemd ≥250): the symlink is not made
			if strings.HasPrefix(w, "/") || strings.Contains("/"+w+"/", "/../") {
				return fmt.Errorf("directory %q must be relative and must not contain ..", w)
			}
			*dst = append(*dst, w)
		}
		return nil
	}
	mode := func(dst *uint32) error {
		m, err := parseMode(v)
		*dst = m
		return err
	}
	switch a.key {
	case "Type":
		b.typeSet = true
		switch v {
		case "simple", "exec", "forking", "oneshot", "notify":
			s.Type = v
		case "idle":
			s.Type = "simple"
			b.note("Type=idle is treated as Type=simple")
		case "dbus":
			return b.unsupported(a, "it needs a D-Bus system bus to tell when the service is ready; if the daemon does not need D-Bus activation, set Type=simple in a drop-in (systemctl edit)")
		case "notify-reload":
			return b.unsupported(a, "reload by signal with READY=1 is not implemented; set Type=notify and ExecReload= in a drop-in")
		default:
			return fmt.Errorf("unknown Type=%q (simple, exec, forking, oneshot, notify)", v)
		}
	case "ExecStart":
		b.startAt = a
		return exec(&s.ExecStart)
	case "ExecStartPre":
		return exec(&s.ExecStartPre)
	case "ExecStartPost":
		return exec(&s.ExecStartPost)
	case "ExecReload":
		return exec(&s.ExecReload)
	case "ExecStop":
		return exec(&s.ExecStop)
	case "ExecStopPost":
		return exec(&s.ExecStopPost)
	case "ExecCondition":
		return exec(&s.ExecCondition)
	case "ExecSearchPath":
		if v == "" {
			s.ExecSearchPath = nil
			return nil
		}
		x, err := b.spec.resolve(v)
		if err != nil {
			return err
		}
		s.ExecSearchPath = append(s.ExecSearchPath, strings.Split(x, ":")...)
	case "BusName":
		b.busName = a
		if v != "" && b.typeSet {
			b.notNote(a, "there is no D-Bus name to wait for")
		}
	case "PermissionsStartOnly":
		return boolean(&b.permStartOnly)
	case "PIDFile":
		p, err := b.spec.resolve(v)
		if err != nil {
			return err
		}
		if p != "" && !strings.HasPrefix(p, "/") {
			p = "/run/" + p
		}
		s.PIDFile = p
	case "NotifyAccess":
		return oneOf(&s.NotifyAccess, "none", "main", "exec", "all")
	case "RemainAfterExit":
		return boolean(&s.RemainAfterExit)
	case "GuessMainPID":
		return boolean(&s.GuessMainPID)
	case "IgnoreSIGPIPE":
		return boolean(&s.IgnoreSIGPIPE)
	case "User", "Group":
		x, err := b.spec.resolve(v)
		if a.key == "User" {
			s.User = x
		} else {
			s.Group = x
		}
		return err
	case "SupplementaryGroups":
		return b.appendList(&s.SupplementaryGroups, v)
	case "DynamicUser":
		var on bool
		if err := boolean(&on); err != nil {
			return err
		}
		if on {
			return b.unsupported(a, "it needs a dynamic user allocated for each run; create a system user (adduser --system NAME) and set User=NAME and DynamicUser=no in a drop-in")
		}
	case "Environment":
		if v == "" {
			s.Environment = nil
			return nil
		}
		ws, err := b.words(v)
		if err != nil {
			return err
		}
		for _, w := range ws {
			k, _, ok := strings.Cut(w, "=")
			if !ok || !isEnvName(k) {
				return fmt.Errorf("%q is not a VAR=value assignment", w)
			}
			s.Environment = append(s.Environment, w)
		}
	case "EnvironmentFile":
		if v == "" {
			s.EnvironmentFiles = nil
			return nil
		}
		ef := EnvFile{}
		if strings.HasPrefix(v, "-") {
			ef.Optional, v = true, v[1:]
		}
		p, err := b.spec.resolve(v)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(p, "/") {
			return fmt.Errorf("environment file %q is not an absolute path", p)
		}
		ef.Path = p
		s.EnvironmentFiles = append(s.EnvironmentFiles, ef)
	case "PassEnvironment":
		return b.appendList(&s.PassEnvironment, v)
	case "UnsetEnvironment":
		return b.appendList(&s.UnsetEnvironment, v)
	case "WorkingDirectory":
		s.WorkingDirectoryOptional = strings.HasPrefix(v, "-")
		p, err := b.spec.resolve(strings.TrimPrefix(v, "-"))
		if err != nil {
			return err
		}
		if p != "" && p != "~" && !strings.HasPrefix(p, "/") {
			return fmt.Errorf("working directory %q is not absolute (or ~)", p)
		}
		s.WorkingDirectory = p
	case "RootDirectory", "RootImage", "RootImageOptions", "RootHash", "RootHashSignature", "RootVerity",
		"MountImages", "ExtensionImages", "ExtensionDirectories", "RootEphemeral", "RootImagePolicy", "MountImagePolicy", "ExtensionImagePolicy":
		if v == "" {
			return nil
		}
		return b.unsupported(a, "the service would run in another root file system; install what it needs in the container and drop the setting in a drop-in")
	case "PAMName":
		if v == "" {
			return nil
		}
		return b.unsupported(a, "the shim does not open PAM sessions; if the daemon does not need one, set PAMName= (empty) in a drop-in")
	case "TTYPath":
		if v == "" {
			return nil
		}
		return b.unsupported(a, "services have no terminal in a fat container")
	case "LoadCredential", "LoadCredentialEncrypted", "SetCredential", "SetCredentialEncrypted", "ImportCredential":
		if v == "" {
			return nil
		}
		if a.key == "ImportCredential" || a.key == "LoadCredential" && !strings.Contains(v, ":") {
			// Taken from the system's credential store if it has one: optional.
			b.notNote(a, "there is no credential store; the service starts without it")
			return nil
		}
		return b.unsupported(a, "there is no $CREDENTIALS_DIRECTORY; give the daemon its secret through a file it reads")
	case "Sockets", "OpenFile":
		if v == "" {
			return nil
		}
		return b.unsupported(a, "socket activation and passed file descriptors are not supported; configure the daemon to open its own sockets and drop the setting in a drop-in")
	case "Restart":
		return oneOf(&s.Restart, "no", "on-success", "on-failure", "on-abnormal", "on-watchdog", "on-abort", "always")
	case "RestartSec":
		return timeout(&s.RestartSec, 100*time.Millisecond)
	case "TimeoutSec":
		b.startTimeout = v != ""
		if err := timeout(&s.TimeoutStartSec, 90*time.Second); err != nil {
			return err
		}
		s.TimeoutStopSec = s.TimeoutStartSec
	case "TimeoutStartSec":
		b.startTimeout = v != ""
		return timeout(&s.TimeoutStartSec, 90*time.Second)
	case "TimeoutStopSec":
		return timeout(&s.TimeoutStopSec, 90*time.Second)
	case "KillMode":
		return oneOf(&s.KillMode, "control-group", "mixed", "process", "none")
	case "KillSignal":
		return signal(&s.KillSignal)
	case "RestartKillSignal":
		b.rkill = true
		return signal(&s.RestartKillSignal)
	case "FinalKillSignal":
		return signal(&s.FinalKillSignal)
	case "SendSIGKILL":
		return boolean(&s.SendSIGKILL)
	case "SendSIGHUP":
		return boolean(&s.SendSIGHUP)
	case "SuccessExitStatus":
		if v == "" {
			s.SuccessExitStatus, s.SuccessSignals = nil, nil
			return nil
		}
		return exitStatuses(v, &s.SuccessExitStatus, &s.SuccessSignals)
	case "RestartPreventExitStatus":
		if v == "" {
			s.RestartPreventExitStatus, s.RestartPreventSignals = nil, nil
			return nil
		}
		return exitStatuses(v, &s.RestartPreventExitStatus, &s.RestartPreventSignals)
	case "RestartForceExitStatus":
		if v == "" {
			s.RestartForceExitStatus, s.RestartForceSignals = nil, nil
			return nil
		}
		return exitStatuses(v, &s.RestartForceExitStatus, &s.RestartForceSignals)
	case "UMask":
		m, err := parseMode(v)
		if err != nil {
			return err
		}
		s.UMask = &m
	case "Nice":
		n, err := strconv.Atoi(v)
		if err != nil || n < -20 || n > 19 {
			return fmt.Errorf("%q is not a nice level -20..19", v)
		}
		s.Nice = &n
	case "StandardInput":
		switch v {
		case "null", "":
			s.StandardInput = "null"
		default:
			return b.unsupported(a, "services get /dev/null on standard input in a fat container; drop the setting in a drop-in")
		}
	case "StandardInputText", "StandardInputData":
		return b.unsupported(a, "services get /dev/null on standard input in a fat container")
	case "StandardOutput", "StandardError":
		out, err := b.output(a)
		if err != nil {
			return err
		}
		if a.key == "StandardOutput" {
			s.StandardOutput = out
		} else {
			b.stderr = true
			s.StandardError = out
		}
	case "SyslogIdentifier":
		x, err := b.spec.resolve(v)
		s.SyslogIdentifier = x
		return err
	case "RuntimeDirectory":
		return dirs(&s.RuntimeDirectory)
	case "StateDirectory":
		return dirs(&s.StateDirectory)
	case "LogsDirectory":
		return dirs(&s.LogsDirectory)
	case "CacheDirectory":
		return dirs(&s.CacheDirectory)
	case "ConfigurationDirectory":
		return dirs(&s.ConfigurationDirectory)
	case "RuntimeDirectoryMode":
		return mode(&s.RuntimeDirectoryMode)
	case "StateDirectoryMode":
		return mode(&s.StateDirectoryMode)
	case "LogsDirectoryMode":
		return mode(&s.LogsDirectoryMode)
	case "CacheDirectoryMode":
		return mode(&s.CacheDirectoryMode)
	case "ConfigurationDirectoryMode":
		return mode(&s.ConfigurationDirectoryMode)
	case "RuntimeDirectoryPreserve":
		switch v {
		case "yes", "no", "restart":
			s.RuntimeDirectoryPreserve = v
		default:
			bv, err := parseBool(v)
			if err != nil {
				return fmt.Errorf("unknown RuntimeDirectoryPreserve=%q (yes, no, restart)", v)
			}
			s.RuntimeDirectoryPreserve = map[bool]string{true: "yes", false: "no"}[bv]
		}
	default:
		if item, kind, ok := limitItem(a.key); ok {
			if v == "" {
				delete(s.Limits, item)
				return nil
			}
			rl, err := parseRlimit(v, kind)
			if err != nil {
				return err
			}
			if s.Limits == nil {
				s.Limits = map[string]Rlimit{}
			}
			s.Limits[item] = rl
			return nil
		}
		if why := notedReason("Service", a.key); why != "" {
			if worthNoting(a.value) {
				b.notNote(a, why)
			}
			return nil
		}
		return b.unsupported(a, "unknown [Service] directive (typo?); fix it in a drop-in (systemctl edit) or prefix it with X- to ignore it")
	}
	return nil
}

// worthNoting is false for values that switch a noted feature off
// (empty, a false boolean, "none"): there is nothing to tell the user.
func worthNoting(v string) bool {
	if v == "" || v == "none" {
		return false
	}
	b, err := parseBool(v)
	return err != nil || b
}

// output parses StandardOutput=/StandardError=.
func (b *builder) output(a assignment) (string, error) {
	v, err := b.spec.resolve(a.value)
	if err != nil {
		return "", err
	}
	switch v {
	case "", "journal", "kmsg", "console", "journal+console", "kmsg+console":
		return "journal", nil
	case "syslog", "syslog+console":
		return "syslog", nil
	case "inherit", "null":
		return v, nil
	}
	for _, p := range []string{"file:", "append:", "truncate:"} {
		if path, ok := strings.CutPrefix(v, p); ok {
			if !strings.HasPrefix(path, "/") {
				return "", fmt.Errorf("%s path %q is not absolute", strings.TrimSuffix(p, ":"), path)
			}
			return v, nil
		}
	}
	return "", b.unsupported(a, "only journal, null, inherit, syslog, kmsg, console and file:/append:/truncate: are supported (no tty, socket or fd output)")
}
