package daemon

import (
	"net/http"

	"github.com/fatbox/fatbox/engine/api"
)

// volumeRoutes: data volumes (engine/volume.go).
func (d *Daemon) volumeRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/volumes", func(w http.ResponseWriter, r *http.Request) {
		var req api.CreateVolumeRequest
		if !decode(w, r, &req) {
			return
		}
		v, err := d.engine.CreateVolume(r.Context(), req.Name, req.SizeBytes)
		reply(w, r, toVolume(v), err)
	})
	mux.HandleFunc("GET /v1/volumes", func(w http.ResponseWriter, r *http.Request) {
		vs, err := d.engine.Volumes(r.Context())
		reply(w, r, toVolumes(vs), err)
	})
	mux.HandleFunc("GET /v1/volumes/{name}", func(w http.ResponseWriter, r *http.Request) {
		v, err := d.engine.Volume(r.Context(), r.PathValue("name"))
		reply(w, r, toVolume(v), err)
	})
	mux.HandleFunc("DELETE /v1/volumes/{name}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, r, struct{}{}, d.engine.RemoveVolume(r.Context(), r.PathValue("name")))
	})
}
