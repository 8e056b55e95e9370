package main

import (
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/fatbox/fatbox/baseimages/units"
)

// Paths inside the container (joined under shim.root).
const (
	runDir        = "/run/vmshim"
	stateDir      = "/run/vmshim/units"
	confDir       = "/run/vmshim/supervisor"
	notifyDir     = "/run/vmshim/notify"
	timersFile    = "/run/vmshim/timers.json"
	shutdownPID   = "/run/vmshim/shutdown.pid"
	lockFile      = "/run/vmshim/lock"
	initLockFile  = "/run/vmshim/init.lock"
	systemdRunDir = "/run/systemd/system"
	logDir        = "/var/log/supervisor"
	timerStampDir = "/var/lib/systemd/timers"
	powerDir      = "/.fatbox/power"
	defaultSelf   = "/.fatbox/vmshim"
	defaultSock   = "/run/supervisord.sock"
	// programPrefix names the supervisord program of a unit: x.service → unit-x.
	programPrefix = "unit-"
	// initProgram is the supervisord program that runs `vmshim init`.
	initProgram = "fatbox-init"
)

// shim carries what every verb needs. VMSHIM_ROOT (tests only) moves every
// absolute path under another directory, VMSHIM_SUPERVISORD_SOCK points at
// another supervisord, VMSHIM_BIN is the command written into program confs.
type shim struct {
	root   string
	sock   string
	self   string
	out    io.Writer
	errw   io.Writer
	now    func() time.Time
	loader units.Loader

	progCmds map[string]string // supervisord.conf's program commands, read once
}

func newShim() *shim {
	root := os.Getenv("VMSHIM_ROOT")
	if root == "" {
		root = "/"
	}
	s := &shim{root: root, out: os.Stdout, errw: os.Stderr, now: time.Now}
	s.sock = os.Getenv("VMSHIM_SUPERVISORD_SOCK")
	if s.sock == "" {
		s.sock = s.path(defaultSock)
	}
	s.self = os.Getenv("VMSHIM_BIN")
	if s.self == "" {
		s.self = defaultSelf
	}
	s.loader = units.Loader{Root: root}
	return s
}

// path maps an absolute in-container path under the shim's root.
func (s *shim) path(p string) string {
	if s.root == "/" {
		return p
	}
	return filepath.Join(s.root, p)
}

func (s *shim) ctl() *ctlClient { return &ctlClient{sock: s.sock} }

// Paths the unit's processes use (ExecStart=, WorkingDirectory=,
// PIDFile=, StandardOutput=file:, RuntimeDirectory=) are not moved under
// VMSHIM_ROOT: in tests those processes run on the host.
