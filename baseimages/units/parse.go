package units

import (
	"errors"
	"fmt"
	"io"
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
