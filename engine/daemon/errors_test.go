package daemon

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

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

// sentinels is every sentinel classify maps, by its qualified name, with
// the status and code the API promises for it (docs/architecture.md,
// "The API's rules").
var sentinels = []struct {
	name   string
	err    error
	status int
	code   string
}{
	{"inventory.ErrNotFound", inventory.ErrNotFound, 404, api.CodeNotFound},
	{"ipam.ErrPoolNotFound", ipam.ErrPoolNotFound, 404, api.CodeNotFound},
	{"ipam.ErrLeaseNotFound", ipam.ErrLeaseNotFound, 404, api.CodeNotFound},
	{"baseimages.ErrNotFound", baseimages.ErrNotFound, 404, api.CodeNotFound},
	{"engine.ErrSnapshotNotFound", engine.ErrSnapshotNotFound, 404, api.CodeNotFound},
	{"engine.ErrSnapshotExists", engine.ErrSnapshotExists, 409, api.CodeExists},
	{"baseimages.ErrExists", baseimages.ErrExists, 409, api.CodeExists},
	{"inventory.ErrExists", inventory.ErrExists, 409, api.CodeExists},
	{"inventory.ErrReleaseBusy", inventory.ErrReleaseBusy, 409, api.CodeConflict},
	{"store.ErrExists", store.ErrExists, 409, api.CodeExists},
	{"ipam.ErrPoolExists", ipam.ErrPoolExists, 409, api.CodeExists}, // also an ErrPoolConflict: exists wins
	{"inventory.ErrInvalid", inventory.ErrInvalid, 400, api.CodeInvalid},
	{"engine.ErrInvalid", engine.ErrInvalid, 400, api.CodeInvalid},
	{"ipam.ErrInvalidPool", ipam.ErrInvalidPool, 400, api.CodeInvalid},
	{"ipam.ErrInvalid", ipam.ErrInvalid, 400, api.CodeInvalid},
	{"baseimages.ErrInvalid", baseimages.ErrInvalid, 400, api.CodeInvalid},
	{"limits.ErrInvalid", limits.ErrInvalid, 400, api.CodeInvalid},
	{"engine.ErrNotRunning", engine.ErrNotRunning, 409, api.CodeConflict},
	{"engine.ErrConflict", engine.ErrConflict, 409, api.CodeConflict},
	{"limits.ErrOvercommit", limits.ErrOvercommit, 409, api.CodeConflict},
	{"ipam.ErrInUse", ipam.ErrInUse, 409, api.CodeConflict},
	{"ipam.ErrPoolInUse", ipam.ErrPoolInUse, 409, api.CodeConflict},
	{"ipam.ErrPoolFull", ipam.ErrPoolFull, 409, api.CodeConflict},
	{"ipam.ErrPoolConflict", ipam.ErrPoolConflict, 409, api.CodeConflict},
	{"baseimages.ErrInUse", baseimages.ErrInUse, 409, api.CodeConflict},
	{"inventory.ErrVolumeNotFound", inventory.ErrVolumeNotFound, 404, api.CodeNotFound}, // wraps inventory.ErrNotFound
	{"inventory.ErrVolumeExists", inventory.ErrVolumeExists, 409, api.CodeExists},       // wraps inventory.ErrExists
	{"inventory.ErrVolumeInUse", inventory.ErrVolumeInUse, 409, api.CodeConflict},
	{"engine.ErrNoGatewayKey", engine.ErrNoGatewayKey, 409, api.CodeConflict},
	{"audit.ErrNotFound", audit.ErrNotFound, 404, api.CodeNotFound},
	{"record.ErrNotFound", record.ErrNotFound, 404, api.CodeNotFound},
	{"store.ErrConflict", store.ErrConflict, 503, api.CodeBusy},
	{"store.ErrUnavailable", store.ErrUnavailable, 503, api.CodeUnavailable},
}

// internalOnPurpose are sentinels of those packages that classify leaves
// as "internal", each with the reason.
var internalOnPurpose = map[string]string{
	"store.ErrNotFound": "inventory and ipam turn a missing key into their own not-found; a bare one reaching the API is a bug",
	"store.ErrNoChange": "store.Update's own signal, never returned to a caller",
	"record.ErrCapped":  "a recording's end, for the gateway in-process; no route returns it",
	"record.ErrFull":    "a refused recording, for the gateway in-process; no route returns it",
}

func TestClassifySentinels(t *testing.T) {
	other := errors.New("disk on fire")
	for _, s := range sentinels {
		for _, w := range []struct {
			how string
			err error
		}{
			{"bare", s.err},
			{"wrapped once", fmt.Errorf("create web-01: %w", s.err)},
			{"wrapped twice", fmt.Errorf("daemon: %w", fmt.Errorf("create web-01: %w", s.err))},
			{"joined after", errors.Join(other, s.err)},
			{"joined before", errors.Join(s.err, other)},
			{"wrapped join", fmt.Errorf("undo failed too: %w", errors.Join(fmt.Errorf("step: %w", s.err), other))},
		} {
			status, code := classify(w.err)
			if status != s.status || code != s.code {
				t.Errorf("%s %s: %d %s, want %d %s", s.name, w.how, status, code, s.status, s.code)
			}
		}
	}
}

func TestClassifyOthers(t *testing.T) {
	for _, c := range []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"unclassified", errors.New("runc: exit status 1"), 500, api.CodeInternal},
		{"unclassified, wrapped", fmt.Errorf("start: %w", errors.New("x")), 500, api.CodeInternal},
		{"bare store.ErrNotFound", store.ErrNotFound, 500, api.CodeInternal},
		{"errKind", &errKind{http.StatusTeapot, "x", "m"}, http.StatusTeapot, "x"},
		{"errKind wrapped", fmt.Errorf("a: %w", invalid("bad")), 400, api.CodeInvalid},
		{"MaxBytesError", &http.MaxBytesError{Limit: 10}, 413, api.CodeTooLarge},
		{"MaxBytesError wrapped", fmt.Errorf("body: %w", &http.MaxBytesError{Limit: 10}), 413, api.CodeTooLarge},
		// The packages' own error constructors carry their sentinel.
		{"inventory.ExistsError", inventory.ExistsError("web-01"), 409, api.CodeExists},
		{"inventory.ValidName", inventory.ValidName("Web_01"), 400, api.CodeInvalid},
		{"store.TxnError", &store.TxnError{Index: 1, Err: store.ErrConflict}, 503, api.CodeBusy},
		{"limits.ParseSize", func() error { _, err := limits.ParseSize("memory_bytes", "2X"); return err }(), 400, api.CodeInvalid},
		{"limits.Error overcommit", &limits.Error{Field: "cpu", Rule: "r", Fix: "f", Err: limits.ErrOvercommit}, 409, api.CodeConflict},
		{"engine.ErrConflict wrapping a limits.Error", fmt.Errorf("start: %w: %w", engine.ErrConflict, &limits.Error{Field: "ulimit", Rule: "r", Fix: "f", Err: limits.ErrInvalid}), 409, api.CodeConflict},
	} {
		status, code := classify(c.err)
		if status != c.status || code != c.code {
			t.Errorf("%s (%v): %d %s, want %d %s", c.name, c.err, status, code, c.status, c.code)
		}
	}
}

// Every exported sentinel of a package the daemon calls is either in the
// table above (and so mapped) or explicitly internal: a new sentinel
// cannot be forgotten.
func TestClassifyCoversEverySentinel(t *testing.T) {
	known := map[string]bool{}
	for _, s := range sentinels {
		known[s.name] = true
	}
	found := 0
	for pkg, dir := range map[string]string{
		"inventory": "../../inventory", "store": "../../inventory/store", "ipam": "../../ipam",
		"baseimages": "../../baseimages", "engine": "..", "limits": "../limits",
		"audit": "../../sshgw/audit", "record": "../../sshgw/record",
	} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no sources in %s (%v)", pkg, dir, err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range af.Decls {
				g, ok := d.(*ast.GenDecl)
				if !ok || g.Tok != token.VAR {
					continue
				}
				for _, spec := range g.Specs {
					for _, n := range spec.(*ast.ValueSpec).Names {
						if !n.IsExported() || !strings.HasPrefix(n.Name, "Err") {
							continue
						}
						found++
						q := pkg + "." + n.Name
						if !known[q] && internalOnPurpose[q] == "" {
							t.Errorf("%s (%s) is neither mapped by classify's test table nor listed as internal on purpose", q, f)
						}
					}
				}
			}
		}
	}
	if found < len(sentinels) {
		t.Fatalf("found %d sentinels in the sources, fewer than the %d in the table: the scan is broken", found, len(sentinels))
	}
}
