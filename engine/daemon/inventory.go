package daemon

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fatbox/fatbox/engine"
	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/inventory"
)

// maxEventWait bounds how long GET /v1/events?wait= holds an answer.
const maxEventWait = 60 * time.Second

func (d *Daemon) inventoryRoutes(mux *http.ServeMux) {
	mux.HandleFunc("PATCH /v1/containers/{name}", func(w http.ResponseWriter, r *http.Request) {
		var req api.UpdateRequest
		if !decode(w, r, &req) {
			return
		}
		rec, notes, err := d.engine.Update(r.Context(), r.PathValue("name"), fromUpdateRequest(req))
		reply(w, r, api.Updated{Container: toContainer(rec), Notes: notes}, err)
	})
	mux.HandleFunc("GET /v1/events", d.handleEvents)
}

// filterOf reads a list filter from a query: app, owner, env, status and
// label=k=v (repeatable).
func filterOf(r *http.Request) (inventory.Filter, error) {
	q := r.URL.Query()
	f := inventory.Filter{App: q.Get("app"), Owner: q.Get("owner"), Env: q.Get("env"), Status: q.Get("status")}
	for _, l := range q["label"] {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return f, invalid(fmt.Sprintf("label filter %q: write label=KEY=VALUE", l))
		}
		if f.Labels == nil {
			f.Labels = map[string]string{}
		}
		f.Labels[k] = v
	}
	switch f.Status {
	case "", inventory.StatusCreating, inventory.StatusRunning, inventory.StatusStopping, inventory.StatusStopped, inventory.StatusRemoving:
	default:
		return f, invalid(fmt.Sprintf("status %q is not a status: use creating, running, stopping, stopped or removing", f.Status))
	}
	return f, nil
}

func (d *Daemon) handleEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var after uint64
	var since time.Time
	var wait time.Duration
	limit := 10000
	var err error
	if v := q.Get("after"); v != "" {
		if after, err = strconv.ParseUint(v, 10, 64); err != nil {
			writeError(w, r, invalid(fmt.Sprintf("after=%q is not an event number: give a whole number", v)))
			return
		}
	}
	if v := q.Get("since"); v != "" {
		if since, err = time.Parse(time.RFC3339Nano, v); err != nil {
			writeError(w, r, invalid(fmt.Sprintf("since=%q is not a time: give RFC 3339, e.g. 2026-12-01T00:00:00Z", v)))
			return
		}
	}
	if v := q.Get("wait"); v != "" {
		if wait, err = time.ParseDuration(v); err != nil || wait < 0 || wait > maxEventWait {
			writeError(w, r, invalid(fmt.Sprintf("wait=%q: give a duration up to %s, e.g. 30s", v, maxEventWait)))
			return
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 10000 {
			writeError(w, r, invalid(fmt.Sprintf("limit=%q: give a number from 1 to 10000", v)))
			return
		}
	}
	name := q.Get("name")
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	for {
		out, err := d.events(r.Context(), after, name, since, limit)
		if err != nil || len(out.Events) > 0 || wait == 0 {
			reply(w, r, out, err)
			return
		}
		after = out.Last // nothing of ours yet: wait for what comes after
		select {
		case <-ctx.Done():
			reply(w, r, out, nil)
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// events reads the log after a position, keeping those of one container
// (by name, old name or ID) and since a time.
func (d *Daemon) events(ctx context.Context, after uint64, name string, since time.Time, limit int) (api.Events, error) {
	out := api.Events{Events: []api.Event{}, Last: after}
	evs, err := d.inv.Events(ctx, after, 0)
	if err != nil {
		return out, err
	}
	for _, ev := range evs {
		out.Last = ev.Seq
		if name != "" && ev.Name != name && ev.From != name && ev.ContainerID != name {
			continue
		}
		if !since.IsZero() && ev.Time.Before(since) {
			continue
		}
		out.Events = append(out.Events, toEvent(ev))
		if len(out.Events) >= limit {
			break
		}
	}
	return out, nil
}

func toEvent(ev inventory.Event) api.Event {
	return api.Event{Seq: ev.Seq, Time: ev.Time, Kind: ev.Kind, ContainerID: ev.ContainerID, Name: ev.Name, From: ev.From, Step: ev.Step,
		Cause: ev.Cause.Kind, CauseUID: ev.Cause.UID, CauseDetail: ev.Cause.Detail, Container: toContainer(ev.Record)}
}

func fromUpdateRequest(r api.UpdateRequest) engine.UpdateRequest {
	return engine.UpdateRequest{CPUs: r.CPUs, MemoryBytes: r.MemoryBytes, SwapBytes: r.SwapBytes, DiskBytes: r.DiskBytes,
		Owner: r.Owner, App: r.App, Env: r.Env, SetLabels: r.SetLabels, RemoveLabels: r.RemoveLabels, Ulimits: fromUlimits(r.Ulimits),
		SetServices: fromServices(r.SetServices), RemoveServices: r.RemoveServices, Syslog: r.Syslog}
}
