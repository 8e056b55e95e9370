package units

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// builder applies assignments (a unit file, then its drop-ins) to a Unit.
type builder struct {
	u             *Unit
	kind          string // unit suffix: service, timer, target
	spec          specifierContext
	typeSet       bool
	stderr        bool // StandardError= given
	rkill         bool // RestartKillSignal= given
	startAt       assignment
	seenNote      map[string]bool
	timerSet      bool
	permStartOnly bool       // PermissionsStartOnly=yes
	startTimeout  bool       // TimeoutStartSec= or TimeoutSec= given
	busName       assignment // the last BusName=
	successAction bool       // SuccessAction= given (a unit may then have no command at all)
	// installOnly applies [Install] only (enablement works for any unit).
	installOnly bool
}

func newBuilder(name string, spec specifierContext) *builder {
	u := &Unit{Name: name}
	b := &builder{u: u, kind: unitSuffix(name), spec: spec, seenNote: map[string]bool{}}
	if b.kind == "service" {
		u.Service = defaultService()
	}
	if b.kind == "timer" {
		u.Timer = &Timer{AccuracySec: time.Minute, RemainAfterElapse: true}
	}
	return b
}

func defaultService() Service {
	return Service{
		Type:                       "simple",
		GuessMainPID:               true,
		Restart:                    "no",
		RestartSec:                 100 * time.Millisecond,
		TimeoutStartSec:            90 * time.Second,
		TimeoutStopSec:             90 * time.Second,
		KillMode:                   "control-group",
		KillSignal:                 syscall.SIGTERM,
		FinalKillSignal:            syscall.SIGKILL,
		SendSIGKILL:                true,
		IgnoreSIGPIPE:              true,
		StandardInput:              "null",
		StandardOutput:             "journal",
		RuntimeDirectoryMode:       0o755,
		StateDirectoryMode:         0o755,
		LogsDirectoryMode:          0o755,
		CacheDirectoryMode:         0o755,
		ConfigurationDirectoryMode: 0o755,
		RuntimeDirectoryPreserve:   "no",
	}
}

// Parse reads one unit file (no drop-ins, no search), resolving specifiers
// with the context of the running system (Loader{Root: "/"}).
func Parse(name, file string, r io.Reader) (*Unit, error) {
	return Loader{}.Parse(name, file, r)
}

// Parse reads one unit file (no drop-ins, no search), resolving specifiers
// with l's context (hostname, machine id: see Loader).
func (l Loader) Parse(name, file string, r io.Reader) (*Unit, error) {
	name = normalizeName(name)
	if err := validName(name); err != nil {
		return nil, err
	}
	b := newBuilder(name, l.specifiers(name, file))
	b.u.Path = file
	if err := b.file(file, r); err != nil {
		return nil, err
	}
	if err := b.finish(); err != nil {
		return nil, err
	}
	return b.u, nil
}

// file lexes and applies one unit file or drop-in.
func (b *builder) file(file string, r io.Reader) error {
	as, err := lexUnit(file, r)
	if err != nil {
		return fmt.Errorf("unit %q: %w", b.u.Name, err)
	}
	if err := b.checkType(file, as); err != nil && !b.installOnly {
		return err
	}
	for _, a := range as {
		if err := b.apply(a); err != nil {
			var ue *UnsupportedError
			if errors.As(err, &ue) {
				return err
			}
			return fmt.Errorf("%s: %s=%s (%s:%d): %w", b.u.Name, a.key, a.value, a.file, a.line, err)
		}
	}
	return nil
}

// checkType refuses unit types the shim cannot run.
func (b *builder) checkType(file string, as []assignment) error {
	switch b.kind {
	case "service", "timer", "target":
		return nil
	case "socket":
		for _, a := range as {
			if a.section == "Socket" && strings.HasPrefix(a.key, "Listen") {
				return b.unsupported(a, fmt.Sprintf("socket activation is not supported: start the service directly (systemctl start %s)",
					strings.TrimSuffix(b.u.Name, ".socket")+".service"))
			}
		}
		return &UnsupportedError{Unit: b.u.Name, File: file, Directive: "[Socket]", Why: "socket activation is not supported: start the service directly"}
	}
	return &UnsupportedError{Unit: b.u.Name, File: file, Directive: "." + b.kind + " unit",
		Why: "only .service, .timer and .target units run in a fat container"}
}

func (b *builder) unsupported(a assignment, why string) error {
	return &UnsupportedError{Unit: b.u.Name, File: a.file, Line: a.line, Directive: a.key, Value: a.value, Why: why}
}

func (b *builder) note(s string) {
	if !b.seenNote[s] {
		b.seenNote[s] = true
		b.u.Notes = append(b.u.Notes, s)
	}
}

func (b *builder) notNote(a assignment, why string) {
	b.note(fmt.Sprintf("%s=%s is not enforced: %s", a.key, a.value, why))
}

// words splits a list value and resolves specifiers in each word.
func (b *builder) words(v string) ([]string, error) {
	ws, _, err := splitWords(v)
	if err != nil {
		return nil, err
	}
	for i, w := range ws {
		if ws[i], err = b.spec.resolve(w); err != nil {
			return nil, err
		}
	}
	return ws, nil
}

func (b *builder) apply(a assignment) error {
	if strings.HasPrefix(a.section, "X-") || strings.HasPrefix(a.key, "X-") {
		return nil
	}
	if b.installOnly && a.section != "Install" {
		return nil
	}
	switch a.section {
	case "Unit":
		return b.unitKey(a)
	case "Install":
		return b.installKey(a)
	case "Service":
		if b.kind == "service" {
			return b.serviceKey(a)
		}
	case "Timer":
		if b.kind == "timer" {
			return b.timerKey(a)
		}
	}
	b.note(fmt.Sprintf("section [%s] is ignored in a .%s unit", a.section, b.kind))
	return nil
}

// appendList appends words to *dst, or resets it on an empty value.
func (b *builder) appendList(dst *[]string, v string) error {
	if v == "" {
		*dst = nil
		return nil
	}
	ws, err := b.words(v)
	if err != nil {
		return err
	}
	*dst = append(*dst, ws...)
	return nil
}

func (b *builder) unitKey(a assignment) error {
	u := b.u
	switch a.key {
	case "Description":
		v, err := b.spec.resolve(a.value)
		u.Description = v
		return err
	case "Documentation":
		return b.appendList(&u.Documentation, a.value)
	case "After":
		return b.appendList(&u.After, a.value)
	case "Before":
		return b.appendList(&u.Before, a.value)
	case "Wants", "Requires":
		dst := &u.Wants
		if a.key == "Requires" {
			dst = &u.Requires
		}
		if err := b.appendList(dst, a.value); err != nil {
			return err
		}
		return b.depNote(a)
	case "RequiresMountsFor", "WantsMountsFor", "DefaultDependencies", "SourcePath":
		return nil // the container's mounts are in place before any unit starts
	case "RefuseManualStart", "RefuseManualStop":
		v, err := parseBool(a.value)
		if a.key == "RefuseManualStart" {
			u.RefuseManualStart = v
		} else {
			u.RefuseManualStop = v
		}
		return err
	}
	if dependencyDirective(a.key) {
		return b.depNote(a)
	}
	if a.key == "SuccessAction" && a.value != "" && a.value != "none" {
		b.successAction = true
	}
	if kind, assert, ok := conditionDirective(a.key); ok {
		return b.condition(a, kind, assert)
	}
	if why := notedReason("Unit", a.key); why != "" {
		if worthNoting(a.value) {
			b.notNote(a, why)
		}
		return nil
	}
	b.note(fmt.Sprintf("%s= in [Unit] is unknown and ignored (%s:%d)", a.key, a.file, a.line))
	return nil
}

// depNote notes a dependency directive unless it names only targets.
func (b *builder) depNote(a assignment) error {
	ws, err := b.words(a.value)
	if err != nil {
		return err
	}
	var units []string
	for _, w := range ws {
		if !strings.HasSuffix(w, ".target") {
			units = append(units, w)
		}
	}
	if len(units) > 0 {
		b.note(fmt.Sprintf("%s=%s is not enforced: dependencies are neither started nor stopped with the unit", a.key, strings.Join(units, " ")))
	}
	return nil
}

func conditionDirective(key string) (kind string, assert, ok bool) {
	switch {
	case strings.HasPrefix(key, "Condition"):
		kind = strings.TrimPrefix(key, "Condition")
	case strings.HasPrefix(key, "Assert"):
		kind, assert = strings.TrimPrefix(key, "Assert"), true
	default:
		return "", false, false
	}
	return kind, assert, conditionKind(kind)
}

func (b *builder) condition(a assignment, kind string, assert bool) error {
	if a.value == "" {
		// An empty assignment resets the conditions (or asserts) completely.
		kept := b.u.Conditions[:0]
		for _, c := range b.u.Conditions {
			if c.Assert != assert {
				kept = append(kept, c)
			}
		}
		b.u.Conditions = kept
		return nil
	}
	c := Condition{Kind: kind, Assert: assert}
	v := a.value
	if strings.HasPrefix(v, "|") {
		c.Trigger = true
		v = strings.TrimLeft(v[1:], " ")
	}
	if strings.HasPrefix(v, "!") {
		c.Negate = true
		v = strings.TrimLeft(v[1:], " ")
	}
	arg, err := b.spec.resolve(v)
	if err != nil {
		return err
	}
	if pathCondition(kind) && !strings.HasPrefix(arg, "/") {
		return fmt.Errorf("path %q is not absolute", arg)
	}
	c.Arg = arg
	b.u.Conditions = append(b.u.Conditions, c)
	return nil
}

func (b *builder) installKey(a assignment) error {
	u := b.u
	switch a.key {
	case "WantedBy":
		return b.appendList(&u.WantedBy, a.value)
	case "RequiredBy":
		return b.appendList(&u.RequiredBy, a.value)
	case "Alias":
		return b.appendList(&u.Aliases, a.value)
	case "Also":
		return b.appendList(&u.Also, a.value)
	case "DefaultInstance":
		v, err := b.spec.resolve(a.value)
		u.DefaultInstance = v
		return err
	}
	if why := notedReason("Install", a.key); why != "" {
		b.notNote(a, why)
		return nil
	}
	b.note(fmt.Sprintf("%s= in [Install] is unknown and ignored (%s:%d)", a.key, a.file, a.line))
	return nil
}

func (b *builder) timerKey(a assignment) error {
	t := b.u.Timer
	span := func(dst *time.Duration) error {
		if a.value == "" {
			*dst = 0
			return nil
		}
		d, inf, err := parseTimespan(a.value)
		if err != nil {
			return err
		}
		if inf {
			return fmt.Errorf("a timer span cannot be infinity")
		}
		*dst = d
		return nil
	}
	boolean := func(dst *bool) error {
		v, err := parseBool(a.value)
		*dst = v
		return err
	}
	switch a.key {
	case "OnCalendar":
		if a.value == "" {
			t.OnCalendar = nil
			return nil
		}
		v, err := b.spec.resolve(a.value)
		if err != nil {
			return err
		}
		c, err := ParseCalendar(v)
		if err != nil {
			var ue *UnsupportedError
			if errors.As(err, &ue) {
				ue.Unit, ue.File, ue.Line = b.u.Name, a.file, a.line
			}
			return err
		}
		t.OnCalendar = append(t.OnCalendar, c)
	case "OnActiveSec":
		return span(&t.OnActiveSec)
	case "OnBootSec":
		return span(&t.OnBootSec)
	case "OnStartupSec":
		return span(&t.OnStartupSec)
	case "OnUnitActiveSec":
		return span(&t.OnUnitActiveSec)
	case "OnUnitInactiveSec":
		return span(&t.OnUnitInactiveSec)
	case "AccuracySec":
		return span(&t.AccuracySec)
	case "RandomizedDelaySec":
		return span(&t.RandomizedDelaySec)
	case "Persistent":
		return boolean(&t.Persistent)
	case "FixedRandomDelay":
		return boolean(&t.FixedRandomDelay)
	case "RemainAfterElapse":
		return boolean(&t.RemainAfterElapse)
	case "WakeSystem":
		if err := boolean(&t.WakeSystem); err != nil {
			return err
		}
		if t.WakeSystem {
			b.notNote(a, notedReason("Timer", a.key))
		}
	case "Unit":
		v, err := b.spec.resolve(a.value)
		if err != nil {
			return err
		}
		if err := validName(v); err != nil {
			return err
		}
		t.Unit = v
	default:
		if why := notedReason("Timer", a.key); why != "" {
			b.notNote(a, why)
			return nil
		}
		return b.unsupported(a, "unknown [Timer] directive (typo?); fix it in a drop-in or prefix it with X- to ignore it")
	}
	return nil
}

// finish fills derived defaults and checks the unit as a whole.
func (b *builder) finish() error {
	u := b.u
	switch b.kind {
	case "service":
		return b.finishService()
	case "timer":
		t := u.Timer
		if t.Unit == "" {
			t.Unit = strings.TrimSuffix(u.Name, ".timer") + ".service"
		}
		if len(t.OnCalendar) == 0 && t.OnActiveSec == 0 && t.OnBootSec == 0 && t.OnStartupSec == 0 &&
			t.OnUnitActiveSec == 0 && t.OnUnitInactiveSec == 0 {
			return fmt.Errorf("timer %q has no OnCalendar= or On*Sec= setting; add one", u.Name)
		}
	}
	return nil
}

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
		switch v {
		case "none", "main", "exec", "all":
			s.NotifyAccess = v
		default:
			return fmt.Errorf("unknown NotifyAccess=%q (none, main, exec, all)", v)
		}
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
		switch v {
		case "no", "on-success", "on-failure", "on-abnormal", "on-watchdog", "on-abort", "always":
			s.Restart = v
		default:
			return fmt.Errorf("unknown Restart=%q (no, on-success, on-failure, on-abnormal, on-watchdog, on-abort, always)", v)
		}
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
		switch v {
		case "control-group", "mixed", "process", "none":
			s.KillMode = v
		default:
			return fmt.Errorf("unknown KillMode=%q (control-group, mixed, process, none)", v)
		}
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

// exitStatuses parses "0 1 SIGKILL 255" into statuses and signals.
func exitStatuses(v string, codes *[]int, sigs *[]syscall.Signal) error {
	for _, w := range strings.Fields(v) {
		if n, err := strconv.Atoi(w); err == nil {
			if n < 0 || n > 255 {
				return fmt.Errorf("exit status %d is out of range 0..255", n)
			}
			*codes = append(*codes, n)
			continue
		}
		if n, ok := exitStatusName(w); ok {
			*codes = append(*codes, n)
			continue
		}
		sig, err := parseSignal(w)
		if err != nil {
			return fmt.Errorf("%q is neither an exit status nor a signal", w)
		}
		*sigs = append(*sigs, sig)
	}
	return nil
}

// exitStatusName maps the exit status names systemd accepts (LSB and BSD
// sysexits.h) to numbers.
func exitStatusName(n string) (int, bool) {
	switch n {
	case "SUCCESS":
		return 0, true
	case "FAILURE":
		return 1, true
	case "INVALIDARGUMENT":
		return 2, true
	case "NOTIMPLEMENTED":
		return 3, true
	case "NOPERMISSION":
		return 4, true
	case "NOTINSTALLED":
		return 5, true
	case "NOTCONFIGURED":
		return 6, true
	case "NOTRUNNING":
		return 7, true
	case "USAGE":
		return 64, true
	case "DATAERR":
		return 65, true
	case "NOINPUT":
		return 66, true
	case "NOUSER":
		return 67, true
	case "NOHOST":
		return 68, true
	case "UNAVAILABLE":
		return 69, true
	case "SOFTWARE":
		return 70, true
	case "OSERR":
		return 71, true
	case "OSFILE":
		return 72, true
	case "CANTCREAT":
		return 73, true
	case "IOERR":
		return 74, true
	case "TEMPFAIL":
		return 75, true
	case "PROTOCOL":
		return 76, true
	case "NOPERM":
		return 77, true
	case "CONFIG":
		return 78, true
	case "EXCEPTION":
		return 255, true
	}
	return 0, false
}

func sortedUnique(in []string) []string {
	if len(in) < 2 {
		return in
	}
	out := append([]string(nil), in...)
	sort.Strings(out)
	u := out[:1]
	for _, x := range out[1:] {
		if x != u[len(u)-1] {
			u = append(u, x)
		}
	}
	return u
}
