package main

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fatbox/fatbox/engine/api"
)

// statusDaemon answers GET /v1/status with st on a unix socket.
func statusDaemon(t *testing.T, st api.Status) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "fbs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "d.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(st)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sock
}

// Each hook has a line: its target, position and lag, and when failing the
// failures in a row and the last error; a delivery under way shows.
func TestStatusHooks(t *testing.T) {
	st := api.Status{Version: "test", Node: "n1", Store: api.StoreStatus{Backend: "memory", Healthy: true}, Hooks: []api.HookStatus{
		{Name: "ok", Target: "https://lb.example.com/fatbox", Running: true, Position: 42},
		{Name: "down", Target: "http://127.0.0.1:1/x", Running: true, Position: 40, Lag: 2, Failures: 3, LastError: "connection refused"},
		{Name: "hang", Target: "/usr/bin/zk", Running: true, Position: 41, Lag: 1, Delivering: 42, DeliveringSince: time.Now().Add(-5 * time.Second)},
	}}
	out, _, err := run(statusDaemon(t, st), "status")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"hook:      ok → https://lb.example.com/fatbox, event 42, 0 behind: ok\n",
		"hook:      down → http://127.0.0.1:1/x, event 40, 2 behind: failing (3 in a row, later events wait): connection refused\n",
		"hook:      hang → /usr/bin/zk, event 41, 1 behind: ok; delivering event 42 for 5s\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("fatbox status lacks %q:\n%s", want, out)
		}
	}
}
