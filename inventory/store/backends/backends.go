// Package backends maps store URLs to store backends, in one explicit table.
//
//	""  or "embedded"                 the bolt backend at <state dir>/state.db
//	bolt:///var/lib/fatbox/state.db   the bolt backend at that absolute path
//	consul://127.0.0.1:8500/fatbox    the Consul backend (?token=...&scheme=https)
package backends

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"sort"
	"strings"

	"github.com/fatbox/fatbox/inventory/store"
	"github.com/fatbox/fatbox/inventory/store/boltstore"
	"github.com/fatbox/fatbox/inventory/store/consulstore"
)

// opener opens one backend from a parsed URL.
type opener func(ctx context.Context, raw string, u *url.URL, stateDir string) (store.Store, error)

// drivers is the table of backends, keyed by URL scheme.
var drivers = map[string]opener{
	"bolt": func(ctx context.Context, raw string, u *url.URL, stateDir string) (store.Store, error) {
		if u.Host != "" {
			return nil, fmt.Errorf("bad store URL %q: bolt URLs have no host: write bolt:///absolute/path.db (three slashes)", raw)
		}
		if u.Path == "" {
			return boltstore.Open(filepath.Join(stateDir, "state.db"))
		}
		return boltstore.Open(u.Path)
	},
	"consul": func(ctx context.Context, raw string, u *url.URL, stateDir string) (store.Store, error) {
		cfg, err := consulstore.ParseURL(raw)
		if err != nil {
			return nil, err
		}
		return consulstore.Open(ctx, cfg)
	},
}

// Schemes lists the known URL schemes.
func Schemes() []string {
	var out []string
	for k := range drivers {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Usage is the one-line hint printed with URL errors.
const Usage = "use \"embedded\" or bolt:///var/lib/fatbox/state.db (one host) or consul://127.0.0.1:8500/fatbox (many hosts)"

// Open opens the store that raw names. stateDir is where the embedded store
// lives when raw is "" or "embedded".
func Open(ctx context.Context, raw, stateDir string) (store.Store, error) {
	if raw == "" || raw == "embedded" {
		raw = "bolt://"
	}
	if !strings.Contains(raw, "://") {
		return nil, fmt.Errorf("unknown store URL %q: %s", raw, Usage)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("bad store URL %q: %v: %s", raw, err, Usage)
	}
	d, ok := drivers[u.Scheme]
	if !ok {
		return nil, fmt.Errorf("unknown store URL %q: no backend for %q: %s", raw, u.Scheme+"://", Usage)
	}
	return d(ctx, raw, u, stateDir)
}
