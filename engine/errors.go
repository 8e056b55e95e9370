package engine

import (
	"errors"
	"fmt"
)

// Sentinels the daemon maps to API error codes, checked with errors.Is.
var (
	// ErrNotRunning: the call needs a running container.
	ErrNotRunning = errors.New("container not running")
	// ErrInvalid: the request breaks a rule; the message says which.
	ErrInvalid = errors.New("invalid request")
	// ErrConflict: the request is well-formed but the container's or the
	// host's state refuses it (running, another node's, over a ceiling).
	ErrConflict = errors.New("conflicts with the current state")
)

// kindError is an error whose text is msg and which matches kind and,
// when the message wrapped one with %w, its cause (so errors.As still
// finds, say, a *limits.Error; the daemon answers by kind first).
type kindError struct {
	msg   string
	kind  error
	cause error
}

func (e *kindError) Error() string   { return e.msg }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.cause} }

// newKindError formats like fmt.Errorf (%w wraps) and adds kind.
func newKindError(kind error, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &kindError{err.Error(), kind, err}
}

// invalidf is an ErrInvalid error with the message as formatted.
func invalidf(format string, args ...any) error {
	return newKindError(ErrInvalid, format, args...)
}

// conflictf is an ErrConflict error with the message as formatted; %w
// wraps.
func conflictf(format string, args ...any) error {
	return newKindError(ErrConflict, format, args...)
}
