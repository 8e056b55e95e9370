package limits

import "errors"

var (
	// ErrInvalid is wrapped by every error of a Parse* or Check* function and
	// of Overcommit.Validate: the value itself breaks a rule (the daemon
	// answers "invalid").
	ErrInvalid = errors.New("invalid value")
	// ErrOvercommit is wrapped by Admit's refusals: the value is fine, but
	// this host has no room for it now (the daemon answers "conflict").
	ErrOvercommit = errors.New("over the overcommit ceiling")
)

// Error is what every refusal of this package is: which field, which value,
// the rule it broke and the fix. Err is ErrInvalid or ErrOvercommit, so
// errors.Is works on it; errors.As gives a caller (the daemon's API) the
// parts.
type Error struct {
	Field string // as the caller named it ("--memory", "memory_bytes"); for Admit "cpu", "memory" or "disk"
	Value string // the value as written: quoted for text (`"2X"`), plain for numbers; "" for Admit
	Rule  string // what is wrong, e.g. `unknown unit "X"`
	Fix   string // what to do instead
	Err   error  // ErrInvalid or ErrOvercommit
}

// Error reads "FIELD VALUE: RULE: FIX" (or "FIELD: RULE: FIX" without a value).
func (e *Error) Error() string {
	s := e.Field
	if e.Value != "" {
		s += " " + e.Value
	}
	return s + ": " + e.Rule + ": " + e.Fix
}

// Unwrap gives the sentinel.
func (e *Error) Unwrap() error { return e.Err }

func invalid(field, value, rule, fix string) error {
	return &Error{Field: field, Value: value, Rule: rule, Fix: fix, Err: ErrInvalid}
}

func overcommit(field, rule, fix string) error {
	return &Error{Field: field, Rule: rule, Fix: fix, Err: ErrOvercommit}
}
