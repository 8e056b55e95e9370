// Package revert is the undo list every multi-step change in the engine uses:
// each step that succeeds registers its undo, and a failure part way runs the
// undos newest first, so nothing is left half-made.
package revert

import "errors"

// Reverter collects undo functions. The zero value is ready to use.
type Reverter struct {
	undos []func() error
}

// Add registers an undo for a step that has just succeeded (or, for
// idempotent cleanups, is about to be tried).
func (r *Reverter) Add(f func() error) { r.undos = append(r.undos, f) }

// Revert runs every undo, newest first, going on past errors, and returns
// them joined. It is a no-op after Release.
func (r *Reverter) Revert() error {
	var errs []error
	for i := len(r.undos) - 1; i >= 0; i-- {
		if err := r.undos[i](); err != nil {
			errs = append(errs, err)
		}
	}
	r.undos = nil
	return errors.Join(errs...)
}

// Release forgets the undos: the change succeeded.
func (r *Reverter) Release() { r.undos = nil }
