package daemon

import (
	"net/http"
	"time"

	"github.com/fatbox/fatbox/engine"
	"github.com/fatbox/fatbox/engine/api"
)

// snapshotRoutes: snapshots of a container's disks, and commit (issue 16).
func (d *Daemon) snapshotRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/containers/{name}/snapshots", func(w http.ResponseWriter, r *http.Request) {
		var req api.SnapshotRequest
		if !decode(w, r, &req) {
			return
		}
		s, err := d.engine.CreateSnapshot(r.Context(), r.PathValue("name"), req.Name)
		reply(w, r, toSnapshot(s), err)
	})
	mux.HandleFunc("GET /v1/containers/{name}/snapshots", func(w http.ResponseWriter, r *http.Request) {
		ss, err := d.engine.ListSnapshots(r.Context(), r.PathValue("name"))
		out := make([]api.Snapshot, 0, len(ss))
		for _, s := range ss {
			out = append(out, toSnapshot(s))
		}
		reply(w, r, out, err)
	})
	mux.HandleFunc("DELETE /v1/containers/{name}/snapshots/{snap}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, r, struct{}{}, d.engine.RemoveSnapshot(r.Context(), r.PathValue("name"), r.PathValue("snap")))
	})
	mux.HandleFunc("POST /v1/containers/{name}/snapshots/{snap}/restore", func(w http.ResponseWriter, r *http.Request) {
		var req struct{}
		if !decode(w, r, &req) {
			return
		}
		res, err := d.engine.RestoreSnapshot(r.Context(), r.PathValue("name"), r.PathValue("snap"))
		reply(w, r, api.RestoreResult{Snapshot: toSnapshot(res.Snapshot), Copied: res.Copied, TookMS: snapMillis(res.Took), DiskResized: res.DiskResized}, err)
	})
	mux.HandleFunc("POST /v1/containers/{name}/commit", func(w http.ResponseWriter, r *http.Request) {
		var req api.CommitRequest
		if !decode(w, r, &req) {
			return
		}
		res, err := d.engine.Commit(r.Context(), r.PathValue("name"), req.Image)
		reply(w, r, api.CommitResult{Image: toImage(res.Image), Running: res.Running, FreezeMS: snapMillis(res.Freeze), UpperBytes: res.UpperBytes,
			Stripped: res.Stripped, TookMS: snapMillis(res.Took)}, err)
	})
}

func snapMillis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func toSnapshot(s engine.SnapshotInfo) api.Snapshot {
	out := api.Snapshot{Name: s.Name, Container: s.Container, Created: s.Created, Image: s.Image, ImageID: s.ImageID, Running: s.Running,
		FreezeMS: snapMillis(s.Freeze), CopyMS: snapMillis(s.Copy), DiskSize: s.DiskSize, DiskCopied: s.DiskCopied, Copied: s.Copied}
	for _, v := range s.Volumes {
		out.Volumes = append(out.Volumes, api.SnapshotVolume{Name: v.Name, Path: v.Path, Size: v.Size, Copied: v.Copied})
	}
	return out
}
