package daemon

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/fatbox/fatbox/baseimages"
	"github.com/fatbox/fatbox/baseimages/dockerbuild"
	"github.com/fatbox/fatbox/engine/api"
)

func (d *Daemon) imageRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/images", func(w http.ResponseWriter, r *http.Request) {
		imgs, err := d.images.List()
		reply(w, r, toImages(imgs), err)
	})
	mux.HandleFunc("GET /v1/images/{name}", func(w http.ResponseWriter, r *http.Request) {
		img, err := d.images.Inspect(r.PathValue("name"))
		reply(w, r, toImage(img), err)
	})
	mux.HandleFunc("DELETE /v1/images/{name}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, r, struct{}{}, d.images.Remove(r.Context(), r.PathValue("name")))
	})
	mux.HandleFunc("POST /v1/images/import", func(w http.ResponseWriter, r *http.Request) {
		var req api.ImportRequest
		if !decode(w, r, &req) {
			return
		}
		if !filepath.IsAbs(req.Path) {
			writeError(w, r, invalid(fmt.Sprintf("import path %q is relative: the daemon needs an absolute path", req.Path)))
			return
		}
		img, err := d.images.ImportArchive(r.Context(), req.Path, req.Name)
		reply(w, r, toImage(img), err)
	})
	mux.HandleFunc("POST /v1/images/build", d.handleBuild)
}

// flushWriter flushes every progress line to the client.
type flushWriter struct {
	w http.ResponseWriter
}

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	_ = http.NewResponseController(f.w).Flush()
	return n, err
}

func (d *Daemon) handleBuild(w http.ResponseWriter, r *http.Request) {
	var req api.BuildRequest
	if !decode(w, r, &req) {
		return
	}
	var build func(io.Writer) (baseimages.Image, error)
	switch {
	case req.Dockerfile != "" && req.Recipe != "":
		writeError(w, r, invalid("give a recipe or a Dockerfile, not both"))
		return
	case req.Dockerfile != "":
		if !filepath.IsAbs(req.Dockerfile) || (req.Context != "" && !filepath.IsAbs(req.Context)) {
			writeError(w, r, invalid(fmt.Sprintf("Dockerfile %q and context %q must be absolute paths on the daemon's host", req.Dockerfile, req.Context)))
			return
		}
		if err := baseimages.CheckName(req.Name); err != nil {
			writeError(w, r, err)
			return
		}
		build = func(out io.Writer) (baseimages.Image, error) {
			return d.dockerb.Build(r.Context(), dockerbuild.Request{Dockerfile: req.Dockerfile, Context: req.Context, Name: req.Name, Network: req.Network, NoCache: req.NoCache}, out)
		}
	default:
		if _, err := d.builder.Recipes.Resolve(req.Recipe); err != nil {
			writeError(w, r, err)
			return
		}
		build = func(out io.Writer) (baseimages.Image, error) { return d.builder.Build(r.Context(), req.Recipe, out) }
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	out := flushWriter{w: w}
	img, err := build(out)
	if err != nil {
		d.log.Error("image build failed", "recipe", req.Recipe, "dockerfile", req.Dockerfile, "err", err)
		fmt.Fprintf(out, "ERROR %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		return
	}
	b, _ := json.Marshal(toImage(img))
	fmt.Fprintf(out, "OK %s\n", b)
}
