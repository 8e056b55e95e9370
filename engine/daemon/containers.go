package daemon

import (
	"errors"
	"net/http"

	"github.com/fatbox/fatbox/baseimages"
	"github.com/fatbox/fatbox/engine"
	"github.com/fatbox/fatbox/inventory"
)

func (d *Daemon) containerRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/containers", func(w http.ResponseWriter, r *http.Request) {
		var req engine.CreateRequest
		if !decode(w, r, &req) {
			return
		}
		rec, err := d.engine.Create(r.Context(), req)
		replyContainer(w, rec, err)
	})
	mux.HandleFunc("GET /v1/containers", func(w http.ResponseWriter, r *http.Request) {
		rs, err := d.inv.List(r.Context())
		replyContainer(w, rs, err)
	})
	mux.HandleFunc("GET /v1/containers/{name}", func(w http.ResponseWriter, r *http.Request) {
		in, err := d.engine.Inspect(r.Context(), r.PathValue("name"))
		replyContainer(w, in, err)
	})
	mux.HandleFunc("DELETE /v1/containers/{name}", func(w http.ResponseWriter, r *http.Request) {
		err := d.engine.Remove(r.Context(), r.PathValue("name"), r.URL.Query().Get("release_ip") == "1")
		replyContainer(w, struct{}{}, err)
	})
}

func replyContainer(w http.ResponseWriter, v any, err error) {
	switch {
	case errors.Is(err, inventory.ErrNotFound), errors.Is(err, baseimages.ErrNotFound):
		WriteError(w, http.StatusNotFound, err)
	case errors.Is(err, engine.ErrNotRunning):
		WriteError(w, http.StatusConflict, err)
	default:
		reply(w, v, err)
	}
}

func (d *Daemon) lifecycleRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/containers/{name}/stop", func(w http.ResponseWriter, r *http.Request) {
		replyContainer(w, struct{}{}, d.engine.Stop(r.Context(), r.PathValue("name")))
	})
	mux.HandleFunc("POST /v1/containers/{name}/start", func(w http.ResponseWriter, r *http.Request) {
		rec, err := d.engine.Start(r.Context(), r.PathValue("name"))
		replyContainer(w, rec, err)
	})
	mux.HandleFunc("POST /v1/containers/{name}/rename", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Name string `json:"name"`
		}
		if !decode(w, r, &req) {
			return
		}
		rec, err := d.engine.Rename(r.Context(), r.PathValue("name"), req.Name)
		replyContainer(w, rec, err)
	})
	mux.HandleFunc("POST /v1/containers/{name}/restart", func(w http.ResponseWriter, r *http.Request) {
		rec, err := d.engine.Restart(r.Context(), r.PathValue("name"))
		replyContainer(w, rec, err)
	})
}
