package daemon

import "net/http"

// STUB (issue 16): replaced by the snapshot work.
func (d *Daemon) snapshotRoutes(mux *http.ServeMux) {}
