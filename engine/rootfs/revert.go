package rootfs

import "errors"

// reverter collects undo functions and runs them newest first when an
// operation fails part way. Call release once the operation succeeded.
type reverter struct {
	undos []func() error
}

func (r *reverter) add(f func() error) { r.undos = append(r.undos, f) }

// revert runs every undo, newest first, and returns their errors joined.
func (r *reverter) revert() error {
	var errs []error
	for i := len(r.undos) - 1; i >= 0; i-- {
		if err := r.undos[i](); err != nil {
			errs = append(errs, err)
		}
	}
	r.undos = nil
	return errors.Join(errs...)
}

func (r *reverter) release() { r.undos = nil }
