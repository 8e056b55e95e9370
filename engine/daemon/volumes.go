package daemon

import "net/http"

// STUB (issue 16): replaced by the volume work.
func (d *Daemon) volumeRoutes(mux *http.ServeMux) {}
