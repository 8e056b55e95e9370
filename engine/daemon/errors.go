package daemon

import (
	"errors"
	"net/http"

	"github.com/fatbox/fatbox/baseimages"
	"github.com/fatbox/fatbox/engine"
	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/engine/limits"
	"github.com/fatbox/fatbox/inventory"
	"github.com/fatbox/fatbox/inventory/store"
	"github.com/fatbox/fatbox/ipam"
	"github.com/fatbox/fatbox/sshgw/audit"
	"github.com/fatbox/fatbox/sshgw/record"
)

// errKind is a daemon-made error (a bad body, a missing route) with its
// HTTP status and API code.
type errKind struct {
	status int
	code   string
	msg    string
}

func (e *errKind) Error() string { return e.msg }

func invalid(msg string) error { return &errKind{http.StatusBadRequest, api.CodeInvalid, msg} }

// classify maps an error to its HTTP status and API code, from the
// sentinels of the package that made it. An error no package classified is
// the daemon's fault: 500, "internal".
func classify(err error) (int, string) {
	var k *errKind
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &k):
		return k.status, k.code
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, api.CodeTooLarge
	case errors.Is(err, inventory.ErrNotFound), errors.Is(err, ipam.ErrPoolNotFound), errors.Is(err, ipam.ErrLeaseNotFound),
		errors.Is(err, baseimages.ErrNotFound), errors.Is(err, engine.ErrSnapshotNotFound),
		errors.Is(err, audit.ErrNotFound), errors.Is(err, record.ErrNotFound):
		return http.StatusNotFound, api.CodeNotFound
	case errors.Is(err, inventory.ErrExists), errors.Is(err, store.ErrExists), errors.Is(err, ipam.ErrPoolExists),
		errors.Is(err, engine.ErrSnapshotExists), errors.Is(err, baseimages.ErrExists):
		return http.StatusConflict, api.CodeExists
	case errors.Is(err, engine.ErrNotRunning), errors.Is(err, engine.ErrConflict), errors.Is(err, inventory.ErrReleaseBusy), errors.Is(err, engine.ErrNoGatewayKey):
		// Before the invalid sentinels: the engine's kind is the answer
		// when it wraps another package's refusal (a recorded ulimit the
		// host no longer allows is a conflict, not a bad request).
		return http.StatusConflict, api.CodeConflict
	case errors.Is(err, inventory.ErrInvalid), errors.Is(err, engine.ErrInvalid), errors.Is(err, ipam.ErrInvalidPool), errors.Is(err, ipam.ErrInvalid),
		errors.Is(err, baseimages.ErrInvalid), errors.Is(err, limits.ErrInvalid):
		return http.StatusBadRequest, api.CodeInvalid
	case errors.Is(err, limits.ErrOvercommit),
		errors.Is(err, ipam.ErrInUse), errors.Is(err, ipam.ErrPoolInUse), errors.Is(err, ipam.ErrPoolFull), errors.Is(err, ipam.ErrPoolConflict),
		errors.Is(err, baseimages.ErrInUse), errors.Is(err, inventory.ErrVolumeInUse):
		return http.StatusConflict, api.CodeConflict
	case errors.Is(err, store.ErrConflict):
		return http.StatusServiceUnavailable, api.CodeBusy
	case errors.Is(err, store.ErrUnavailable):
		return http.StatusServiceUnavailable, api.CodeUnavailable
	}
	return http.StatusInternalServerError, api.CodeInternal
}
