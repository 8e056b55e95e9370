package daemon

import (
	"net/http"

	"github.com/fatbox/fatbox/engine/api"
)

func (d *Daemon) containerRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/containers", func(w http.ResponseWriter, r *http.Request) {
		var req api.CreateRequest
		if !decode(w, r, &req) {
			return
		}
		rec, err := d.engine.Create(r.Context(), fromCreateRequest(req))
		reply(w, r, toContainer(rec), err)
	})
	mux.HandleFunc("GET /v1/containers", func(w http.ResponseWriter, r *http.Request) {
		f, err := filterOf(r)
		if err != nil {
			writeError(w, r, err)
			return
		}
		rs, err := d.inv.List(r.Context())
		out := []api.Container{}
		for _, rec := range rs {
			if f.Match(rec) {
				out = append(out, toContainer(rec))
			}
		}
		reply(w, r, out, err)
	})
	mux.HandleFunc("GET /v1/containers/{name}", func(w http.ResponseWriter, r *http.Request) {
		in, err := d.engine.Inspect(r.Context(), r.PathValue("name"))
		reply(w, r, toContainerInfo(in), err)
	})
	mux.HandleFunc("DELETE /v1/containers/{name}", func(w http.ResponseWriter, r *http.Request) {
		release, ok := flag(w, r, "release_ip")
		if !ok {
			return
		}
		err := d.engine.Remove(r.Context(), r.PathValue("name"), release)
		reply(w, r, struct{}{}, err)
	})
}

func (d *Daemon) lifecycleRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/containers/{name}/stop", func(w http.ResponseWriter, r *http.Request) {
		if !decode(w, r, &struct{}{}) {
			return
		}
		reply(w, r, struct{}{}, d.engine.Stop(r.Context(), r.PathValue("name")))
	})
	mux.HandleFunc("POST /v1/containers/{name}/start", func(w http.ResponseWriter, r *http.Request) {
		if !decode(w, r, &struct{}{}) {
			return
		}
		rec, err := d.engine.Start(r.Context(), r.PathValue("name"))
		reply(w, r, toContainer(rec), err)
	})
	mux.HandleFunc("POST /v1/containers/{name}/rename", func(w http.ResponseWriter, r *http.Request) {
		var req api.RenameRequest
		if !decode(w, r, &req) {
			return
		}
		rec, err := d.engine.Rename(r.Context(), r.PathValue("name"), req.Name)
		reply(w, r, toContainer(rec), err)
	})
	mux.HandleFunc("POST /v1/containers/{name}/restart", func(w http.ResponseWriter, r *http.Request) {
		if !decode(w, r, &struct{}{}) {
			return
		}
		rec, err := d.engine.Restart(r.Context(), r.PathValue("name"))
		reply(w, r, toContainer(rec), err)
	})
}

// flag reads a boolean query parameter: absent, "0"/"false" or "1"/"true";
// anything else is refused (a typo must not mean false).
func flag(w http.ResponseWriter, r *http.Request, name string) (bool, bool) {
	q := r.URL.Query()
	if !q.Has(name) {
		return false, true
	}
	switch q.Get(name) {
	case "1", "true":
		return true, true
	case "0", "false", "":
		return false, true
	}
	writeError(w, r, invalid("query parameter "+name+"="+q.Get(name)+" is not a boolean: use 1 or 0"))
	return false, false
}
