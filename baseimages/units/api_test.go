package units

import (
	"io"
	"syscall"
	"testing"
	"time"
)

// TestAPISurface pins the exported API vmshim is written against: a
// signature change breaks this test before it breaks tools/vmshim.
func TestAPISurface(t *testing.T) {
	var (
		_ func(string, string, io.Reader) (*Unit, error)             = Parse
		_ func(Loader, string, string, io.Reader) (*Unit, error)     = Loader.Parse
		_ func(Loader, string) (*Unit, error)                        = Loader.Load
		_ func(Loader) ([]string, error)                             = Loader.List
		_ func(Loader, string) (string, error)                       = Loader.Enabled
		_ func(Loader, string) ([]string, error)                     = Loader.WantsOf
		_ func(Loader, string) ([]Change, error)                     = Loader.EnableChanges
		_ func(Loader, string) ([]Change, error)                     = Loader.DisableChanges
		_ func(Loader, string, bool) ([]Change, error)               = Loader.SysVLinks
		_ func(Loader) ([]LimitRule, error)                          = Loader.LimitRules
		_ func(Loader, LimitUser) (map[string]Rlimit, error)         = Loader.LimitsForUser
		_ func(io.Reader) LSB                                        = ParseLSB
		_ func(string) (Calendar, error)                             = ParseCalendar
		_ func(Calendar, time.Time) time.Time                        = Calendar.Next
		_ func(Calendar) string                                      = Calendar.String
		_ func(io.Reader, string) ([]LimitRule, error)               = ParseLimitsConf
		_ func([]LimitRule, string, int, []string) map[string]Rlimit = LimitsFor
		_ func([]LimitRule, LimitUser) map[string]Rlimit             = LimitsForUser
		_ func(Rlimit, Rlimit) Rlimit                                = Rlimit.Over
		_ func(Condition, string) (bool, error)                      = Condition.Check
		_ func([]Condition, string) (ConditionResult, error)         = EvalConditions
		_ func(Command, map[string]string) []string                  = Command.Expand
		_ func(*UnsupportedError) string                             = (*UnsupportedError).Error
		_ func(Change) string                                        = Change.String
		_ uint64                                                     = Infinity
		_ uint64                                                     = Unchanged
		_ error                                                      = ErrNotFound
		_ error                                                      = ErrMasked
		_ syscall.Signal                                             = Service{}.KillSignal
		_                                                            = Unit{Timer: &Timer{OnCalendar: []Calendar{}}}
		_                                                            = Command{Argv: nil, Argv0: "", IgnoreFailure: false, Privileged: false, NoEnvExpand: false, Raw: ""}
		_                                                            = EnvFile{Path: "", Optional: false}
		_                                                            = Change{Op: "", Path: "", Target: ""}
	)
}
