package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/fatbox/fatbox/baseimages"
	"github.com/fatbox/fatbox/engine/api"
)

func (d *Daemon) imageRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/images", func(w http.ResponseWriter, r *http.Request) {
		imgs, err := d.images.List()
		if imgs == nil {
			imgs = []baseimages.Image{}
		}
		replyImage(w, imgs, err)
	})
	mux.HandleFunc("GET /v1/images/{name}", func(w http.ResponseWriter, r *http.Request) {
		img, err := d.images.Inspect(r.PathValue("name"))
		replyImage(w, img, err)
	})
	mux.HandleFunc("DELETE /v1/images/{name}", func(w http.ResponseWriter, r *http.Request) {
		replyImage(w, struct{}{}, d.images.Remove(r.Context(), r.PathValue("name")))
	})
	mux.HandleFunc("POST /v1/images/import", func(w http.ResponseWriter, r *http.Request) {
		var req api.ImportRequest
		if !decode(w, r, &req) {
			return
		}
		if !filepath.IsAbs(req.Path) {
			WriteError(w, http.StatusBadRequest, fmt.Errorf("import path %q is relative: the daemon needs an absolute path", req.Path))
			return
		}
		img, err := d.images.ImportArchive(r.Context(), req.Path, req.Name)
		replyImage(w, img, err)
	})
	mux.HandleFunc("POST /v1/images/build", d.handleBuild)
}

func replyImage(w http.ResponseWriter, v any, err error) {
	switch {
	case err == nil:
		WriteJSON(w, http.StatusOK, v)
	case errors.Is(err, baseimages.ErrNotFound):
		WriteError(w, http.StatusNotFound, err)
	case errors.Is(err, baseimages.ErrInUse):
		WriteError(w, http.StatusConflict, err)
	default:
		WriteError(w, http.StatusBadRequest, err)
	}
}

// flushWriter flushes every progress line to the client.
type flushWriter struct {
	w http.ResponseWriter
	f http.Flusher
}

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if f.f != nil {
		f.f.Flush()
	}
	return n, err
}

func (d *Daemon) handleBuild(w http.ResponseWriter, r *http.Request) {
	var req api.BuildRequest
	if !decode(w, r, &req) {
		return
	}
	if _, err := d.builder.Recipes.Resolve(req.Recipe); err != nil {
		WriteError(w, http.StatusBadRequest, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	out := flushWriter{w: w, f: fl}
	img, err := d.builder.Build(r.Context(), req.Recipe, out)
	if err != nil {
		d.log.Error("image build failed", "recipe", req.Recipe, "err", err)
		fmt.Fprintf(out, "ERROR %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		return
	}
	b, _ := json.Marshal(img)
	fmt.Fprintf(out, "OK %s\n", b)
}
