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

// kindError is an error whose text is msg and which matches kind.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// invalidf is an ErrInvalid error with the message as formatted.
func invalidf(format string, args ...any) error {
	return &kindError{fmt.Sprintf(format, args...), ErrInvalid}
}

// conflictf is an ErrConflict error with the message as formatted.
func conflictf(format string, args ...any) error {
	return &kindError{fmt.Sprintf(format, args...), ErrConflict}
}
