package daemon

import (
	"net/http"
	"time"

	"github.com/fatbox/fatbox/engine"
	"github.com/fatbox/fatbox/engine/api"
)

func (d *Daemon) releaseRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/containers/{name}/release", func(w http.ResponseWriter, r *http.Request) {
		var req api.ReleaseRequest
		if !decode(w, r, &req) {
			return
		}
		res, err := d.engine.Release(r.Context(), engine.ReleaseRequest{Name: r.PathValue("name"), Image: req.Image, From: req.From, Check: fromHealthCheck(req.Check)})
		reply(w, r, toReleaseResult(res), err)
	})
	mux.HandleFunc("POST /v1/containers/{name}/rollback", func(w http.ResponseWriter, r *http.Request) {
		var req api.RollbackRequest
		if !decode(w, r, &req) {
			return
		}
		res, err := d.engine.Rollback(r.Context(), r.PathValue("name"), fromHealthCheck(req.Check))
		reply(w, r, toReleaseResult(res), err)
	})
}

func fromHealthCheck(c api.HealthCheck) engine.HealthCheck {
	return engine.HealthCheck{TCP: c.TCP, HTTPPort: c.HTTPPort, HTTPPath: c.HTTPPath, Command: c.Command,
		Timeout: time.Duration(c.TimeoutSeconds * float64(time.Second))}
}

func toReleaseResult(r engine.ReleaseResult) api.ReleaseResult {
	return api.ReleaseResult{Name: r.Name, Kind: r.Kind, Candidate: r.Candidate, CandidateIP: r.CandidateIP, Last: r.Last,
		Discarded: r.Discarded, Check: r.Check, CheckSeconds: r.CheckDuration.Seconds(), SwitchSeconds: r.Switch.Seconds(), SwitchSteps: r.SwitchSteps,
		IP: r.IP, Container: toContainer(r.Record)}
}
