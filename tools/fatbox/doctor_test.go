package main

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fatbox/fatbox/engine/api"
)

// doctorDaemon answers GET /v1/containers/web-01/doctor with rep.
func doctorDaemon(t *testing.T, rep api.DoctorReport) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "fbd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "d.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/containers/web-01/doctor", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(rep)
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sock
}

var failedReport = api.DoctorReport{Name: "web-01", OK: false, CheckedAt: testTime, Checks: []api.DoctorCheck{
	{Check: "running", OK: true, Detail: "runc runs it", Where: "host"},
	{Check: "sshd", OK: false, Detail: "sshd is\nSTOPPED", Fix: "`fatbox prog start web-01 sshd`", Where: "container"},
	{Check: "hostname", OK: false, Detail: `the kernel's hostname is "wrong"`, Fix: "`fatbox restart web-01`", Where: "container"},
}}

// A failed check: the table names each fix, and fatbox exits 1 having said
// it all (no error line of its own), with -o json too.
func TestDoctorFailedExitsOne(t *testing.T) {
	sock := doctorDaemon(t, failedReport)
	out, _, err := run(sock, "doctor", "web-01")
	var ec exitCode
	if !errors.As(err, &ec) || ec != 1 {
		t.Fatalf("exit: %v, want exit code 1", err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "CHECK") || !strings.Contains(lines[0], "RESULT") ||
		!strings.Contains(lines[0], "DETAIL") || !strings.Contains(lines[0], "FIX") {
		t.Fatalf("table:\n%s", out)
	}
	if !strings.Contains(lines[1], "ok") || !strings.HasSuffix(strings.TrimSpace(lines[1]), "-") {
		t.Errorf("a passed check shows no fix: %q", lines[1])
	}
	if !strings.Contains(lines[2], "FAIL") || !strings.Contains(lines[2], "sshd is STOPPED") || !strings.HasSuffix(lines[2], "`fatbox prog start web-01 sshd`") {
		t.Errorf("sshd row: %q", lines[2])
	}
	if !strings.Contains(lines[3], "`fatbox restart web-01`") {
		t.Errorf("hostname row: %q", lines[3])
	}
	if lines[4] != "web-01: 2 of 3 checks failed" {
		t.Errorf("summary: %q", lines[4])
	}

	out, _, err = run(sock, "doctor", "web-01", "-o", "json")
	if !errors.As(err, &ec) || ec != 1 {
		t.Fatalf("-o json exit: %v, want exit code 1", err)
	}
	var got api.DoctorReport
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.OK || len(got.Checks) != 3 || got.Checks[1].Fix != failedReport.Checks[1].Fix {
		t.Errorf("-o json: %s (%v)", out, err)
	}
}

func TestDoctorPassedExitsZero(t *testing.T) {
	rep := failedReport
	rep.OK, rep.Checks = true, rep.Checks[:1]
	out, _, err := run(doctorDaemon(t, rep), "doctor", "web-01")
	if err != nil || !strings.HasSuffix(out, "web-01: all 1 checks passed\n") {
		t.Errorf("%v: %q", err, out)
	}
}

// A table row stays one line of plain text whatever a detail holds.
func TestDoctorOneLine(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "-"}, {"sshd is\nSTOPPED", "sshd is STOPPED"}, {"a\x1b[2Jb\x07", "a[2Jb"}, {"\u202eevil\u200b", "evil"}, {"\x1b", "-"},
	} {
		if got := oneLine(c.in); got != c.want {
			t.Errorf("oneLine(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
