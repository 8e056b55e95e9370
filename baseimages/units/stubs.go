package units

import (
	"io"
)

// Check evaluates the condition against the file system under root.
func (c Condition) Check(root string) (bool, error) { return true, nil }

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
