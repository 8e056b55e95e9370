package units

import (
	"io"
	"time"
)

// Check evaluates the condition against the file system under root.
func (c Condition) Check(root string) (bool, error) { return true, nil }

// Calendar is a systemd.time(7) calendar event.
type Calendar struct{ spec string }

// ParseCalendar parses a calendar event expression.
func ParseCalendar(s string) (Calendar, error) { return Calendar{spec: s}, nil }

// Next returns the first elapse strictly after after, or the zero time if never.
func (c Calendar) Next(after time.Time) time.Time { return time.Time{} }

// String is the normalized form systemd-analyze calendar prints.
func (c Calendar) String() string { return c.spec }

// LimitRule is one limits.conf line.
type LimitRule struct {
	Domain, Type, Item, Value string
	File                      string
	Line                      int
}

// ParseLimitsConf parses a pam_limits configuration file.
func ParseLimitsConf(r io.Reader, file string) ([]LimitRule, error) { return nil, nil }

// LimitsFor applies pam_limits precedence to rules for one user.
func LimitsFor(rules []LimitRule, user string, uid int, groups []string) map[string]Rlimit {
	return nil
}
