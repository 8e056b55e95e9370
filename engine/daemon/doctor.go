package daemon

import (
	"net/http"

	"github.com/fatbox/fatbox/engine"
	"github.com/fatbox/fatbox/engine/api"
)

func (d *Daemon) doctorRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/containers/{name}/doctor", func(w http.ResponseWriter, r *http.Request) {
		rep, err := d.engine.Doctor(r.Context(), r.PathValue("name"))
		reply(w, r, toDoctorReport(rep), err)
	})
}

func toDoctorReport(r engine.DoctorReport) api.DoctorReport {
	out := api.DoctorReport{Name: r.Name, OK: r.OK(), CheckedAt: r.CheckedAt, Checks: make([]api.DoctorCheck, 0, len(r.Checks))}
	for _, c := range r.Checks {
		out.Checks = append(out.Checks, api.DoctorCheck{Check: c.Check, OK: c.OK, Detail: c.Detail, Fix: c.Fix, Where: c.Where})
	}
	return out
}
