package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine/api"
)

// run executes the CLI with args against the daemon socket sock.
func run(sock string, args ...string) (stdout, stderr string, err error) {
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetIn(strings.NewReader(""))
	root.SetArgs(append([]string{"--socket", sock}, args...))
	err = root.Execute()
	return out.String(), errb.String(), err
}

// absentSocket is a socket path nothing listens on: any call that reaches
// for the daemon fails with api.ErrDaemonDown.
func absentSocket(t *testing.T) string {
	return filepath.Join(t.TempDir(), "absent.sock")
}

// seen is one request the fake daemon got.
type seen struct {
	Method, Path, Query, Body string
}

// fakeDaemon answers every route the CLI uses with canned records.
type fakeDaemon struct {
	sock string
	mu   sync.Mutex
	reqs []seen
}

func (f *fakeDaemon) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.reqs...)
}

func (f *fakeDaemon) last(t *testing.T) seen {
	t.Helper()
	rs := f.requests()
	if len(rs) == 0 {
		t.Fatal("the daemon got no request")
	}
	return rs[len(rs)-1]
}

var (
	testTime      = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	testContainer = api.Container{ID: "0192a8e4-0000-7000-8000-000000000001", Name: "web-01", Hostname: "web-01", Pool: "prod",
		IP: "198.18.0.5", MAC: "02:00:c6:12:00:05", Node: "n1", Image: "debian12-fat", ImageID: strings.Repeat("ab", 32),
		VCPUs: 1, CPUs: 1, MemoryMiB: 1024, DiskMiB: 10240, Status: "running", Autostart: true, App: "shop",
		Labels: map[string]string{"team": "web"}, CreatedAt: testTime, UpdatedAt: testTime}
	testPool = api.Pool{Name: "prod", CIDR: netip.MustParsePrefix("198.18.0.0/24"), Gateway: netip.MustParseAddr("198.18.0.1"),
		Bridge: "br0", Capacity: 253}
	testLease  = api.Lease{Pool: "prod", Name: "web-01", IP: netip.MustParseAddr("198.18.0.5"), State: api.LeaseActive, Host: "n1", CreatedAt: testTime}
	testVolume = api.Volume{ID: "0192a8e4-0000-7000-8000-0000000000v1", Name: "data1", SizeMiB: 10240, Node: "n1", CreatedAt: testTime,
		AttachedTo: "0192a8e4-0000-7000-8000-000000000001", AttachedName: "web-01", Path: "/var/lib/app", Mounted: true, UsedBytes: 1 << 20, SizeBytes: 10 << 30}
	testImage = api.Image{ID: strings.Repeat("cd", 32), Name: "debian12-fat", Source: "build", Recipe: "debian12-fat", Created: testTime, Size: 1 << 30,
		Packages: []string{"openssh-server"}, Programs: []api.Program{{Name: "sshd", Command: "/usr/sbin/sshd -D", Autostart: true}}}
	testAudit = api.AuditEntry{Time: testTime, End: testTime.Add(time.Minute), Kind: "file", Session: "20261202T092000Z-3f9a1c2b", User: "alice",
		From: "198.18.0.9:50022", Container: "web-01", Login: "root", Channel: "sftp", Path: "/tmp/x", Direction: "upload", Bytes: 10}
)

func newFakeDaemon(t *testing.T) *fakeDaemon {
	t.Helper()
	dir, err := os.MkdirTemp("", "fbc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f := &fakeDaemon{sock: filepath.Join(dir, "d.sock")}
	uid := uint32(1000)
	answers := map[string]any{
		"GET /v1/status": api.Status{Version: "test", Node: "n1", PID: 1, StartedAt: testTime, Starts: 1, StateDir: "/var/lib/fatbox",
			Socket: f.sock, Store: api.StoreStatus{Backend: "memory", URL: "embedded", Healthy: true},
			Capacity: []api.Figure{{Name: "cpu", Used: 2, Ceiling: 16, Unit: "CPUs", Ratio: 4}},
			Billing:  &api.BillingStatus{Target: "fatbox_billing", Database: "db:3306/billing", PeriodSeconds: 3600, Running: true, Connected: true, BilledUntil: testTime, Rows: 3}},
		"POST /v1/pools":                  testPool,
		"POST /v1/cmdb/sync":              api.CMDBPlan{Target: "assets", Table: "vm", DryRun: true, Text: "dry run: nothing to write\n"},
		"GET /v1/pools":                   []api.Pool{testPool},
		"GET /v1/pools/{p}":               testPool,
		"DELETE /v1/pools/{p}":            api.PoolRemoved{Pool: testPool},
		"GET /v1/pools/{p}/leases":        []api.Lease{testLease},
		"POST /v1/pools/{p}/leases":       testLease,
		"GET /v1/pools/{p}/leases/{n}":    testLease,
		"DELETE /v1/pools/{p}/leases/{n}": testLease,
		"POST /v1/pools/{p}/gc":           api.GCResult{Orphans: []api.Lease{testLease}, DryRun: true},
		"GET /v1/ips/{ip}":                testLease,
		"POST /v1/images/import":          testImage,
		"GET /v1/images":                  []api.Image{testImage},
		"GET /v1/images/{n}":              testImage,
		"DELETE /v1/images/{n}":           struct{}{},
		"POST /v1/containers":             testContainer,
		"GET /v1/containers":              []api.Container{testContainer},
		"GET /v1/containers/{n}":          api.ContainerInfo{Container: testContainer, State: "running", PID: 4242},
		"PATCH /v1/containers/{n}":        api.Updated{Container: testContainer, Notes: []string{"the disk grows at the next start"}},
		"DELETE /v1/containers/{n}":       struct{}{},
		"POST /v1/containers/{n}/stop":    struct{}{},
		"POST /v1/containers/{n}/start":   testContainer,
		"POST /v1/containers/{n}/restart": testContainer,
		"POST /v1/containers/{n}/rename":  testContainer,
		"GET /v1/containers/{n}/programs": []api.ProgramStatus{{Name: "sshd", State: "RUNNING", PID: 31, UptimeSeconds: 60}},
		"GET /v1/events":                  api.Events{Events: []api.Event{{Seq: 1, Time: testTime, Kind: "created", ContainerID: testContainer.ID, Name: "web-01", Cause: "api", CauseUID: &uid, Container: testContainer}}, Last: 1},
		"GET /v1/containers/{n}/stats": api.Stats{Name: "web-01", ID: testContainer.ID, Node: "n1", State: "running", ReadAt: testTime, SampledAt: testTime,
			Counters: api.UsageCounters{CPUNanos: 2_500_000_000, CPUSeconds: 2.5, NetBytesOut: 100 << 20, NetPacketsOut: 70000},
			Gauges:   api.UsageGauges{MemoryUsageBytes: 64 << 20, Pids: 12}},
		"GET /v1/containers/{n}/doctor": api.DoctorReport{Name: "web-01", OK: true, CheckedAt: testTime,
			Checks: []api.DoctorCheck{{Check: "sshd", OK: true, Detail: "RUNNING (pid 31)", Where: "container"}}},
		"POST /v1/volumes":       testVolume,
		"GET /v1/volumes":        []api.Volume{testVolume},
		"GET /v1/volumes/{n}":    testVolume,
		"DELETE /v1/volumes/{n}": struct{}{},
		"GET /v1/audit":          api.AuditList{Entries: []api.AuditEntry{testAudit}},
		"GET /v1/audit/sessions/{n}": api.AuditSession{Session: testAudit.Session, Entries: []api.AuditEntry{testAudit},
			Recording: &api.RecordingInfo{Bytes: 2048, Modified: testTime}},
		"GET /v1/usage": api.Usage{From: testTime, To: testTime.Add(time.Hour), PeriodSeconds: 3600, Rows: []api.UsageRow{{ContainerID: testContainer.ID,
			Name: "web-01", PeriodStart: testTime, PeriodEnd: testTime.Add(time.Hour), VCPUHours: 1.5, MemoryGiBHours: 1.5, DiskGiBHours: 10, CPUSeconds: 12.5, NetBytesIn: 1000, NetBytesOut: 2000}}},
	}
	snap := api.Snapshot{Name: "before", Container: "web-01", Created: testTime, Image: "debian12-fat", Running: true, FreezeMS: 84,
		DiskSize: 10 << 30, DiskCopied: 23 << 20, Copied: 23 << 20}
	rel := api.ReleaseResult{Name: "web-01", Kind: "release", Candidate: "web-01-next", Last: "web-01-last", Check: "tcp :22", IP: "198.18.0.2"}
	answers["POST /v1/containers/{n}/release"] = rel
	answers["POST /v1/containers/{n}/rollback"] = rel
	answers["POST /v1/containers/{n}/snapshots"] = snap
	answers["GET /v1/containers/{n}/snapshots"] = []api.Snapshot{snap}
	answers["DELETE /v1/containers/{n}/snapshots/{s}"] = struct{}{}
	answers["POST /v1/containers/{n}/snapshots/{s}/restore"] = api.RestoreResult{Snapshot: snap, Copied: 23 << 20, TookMS: 90}
	answers["GET /v1/gateway/check"] = api.GatewayDecision{Allowed: true, Container: "web-01", Rule: "ops", Line: 9, Login: "root", Path: "sshd",
		Reason: `rule "ops" (line 9) allows alice to reach "web-01" as root over shell`}
	answers["POST /v1/containers/{n}/commit"] = api.CommitResult{Image: testImage, Running: true, FreezeMS: 12, Stripped: []string{"/etc/hostname"}}
	mux := http.NewServeMux()
	for pattern, v := range answers {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(v)
		})
	}
	mux.HandleFunc("POST /v1/images/build", func(w http.ResponseWriter, r *http.Request) {
		b, _ := json.Marshal(testImage)
		io.WriteString(w, "building\nOK "+string(b)+"\n")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(404)
		json.NewEncoder(w).Encode(api.Error{Error: "fake daemon: no route " + r.Method + " " + r.URL.Path, Code: api.CodeNotFound})
	})
	ln, err := net.Listen("unix", f.sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, seen{r.Method, r.URL.Path, r.URL.RawQuery, strings.TrimSpace(string(body))})
		f.mu.Unlock()
		mux.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return f
}

// outputArgs are, for every command with -o, the arguments that make it
// print (against the fake daemon).
var outputArgs = map[string][]string{
	"fatbox status":           {"status"},
	"fatbox gw check":         {"gw", "check", "alice", "web-01"},
	"fatbox pool create":      {"pool", "create", "prod", "--cidr", "198.18.0.0/24", "--bridge", "br0"},
	"fatbox pool ls":          {"pool", "ls"},
	"fatbox pool show":        {"pool", "show", "prod"},
	"fatbox pool rm":          {"pool", "rm", "prod"},
	"fatbox ip ls":            {"ip", "ls", "--pool", "prod"},
	"fatbox ip show":          {"ip", "show", "web-01", "--pool", "prod"},
	"fatbox ip allocate":      {"ip", "allocate", "web-01", "--pool", "prod"},
	"fatbox ip release":       {"ip", "release", "web-01", "--pool", "prod"},
	"fatbox ip gc":            {"ip", "gc", "--pool", "prod", "--dry-run"},
	"fatbox image build":      {"image", "build", "debian12-fat"},
	"fatbox image import":     {"image", "import", "/tmp/img.tar", "--name", "x"},
	"fatbox image ls":         {"image", "ls"},
	"fatbox image inspect":    {"image", "inspect", "debian12-fat"},
	"fatbox image rm":         {"image", "rm", "debian12-fat"},
	"fatbox create":           {"create", "web-01", "--image", "debian12-fat", "--pool", "prod"},
	"fatbox ls":               {"ls"},
	"fatbox inspect":          {"inspect", "web-01"},
	"fatbox prog ls":          {"prog", "ls", "web-01"},
	"fatbox update":           {"update", "web-01", "--cpus", "2"},
	"fatbox events":           {"events"},
	"fatbox inventory export": {"inventory", "export"},
	"fatbox version":          {"version"},
	"fatbox cmdb sync":        {"cmdb", "sync", "--dry-run"},
	"fatbox stop":             {"stop", "web-01"},
	"fatbox start":            {"start", "web-01"},
	"fatbox restart":          {"restart", "web-01"},
	"fatbox rename":           {"rename", "web-01", "web-02"},
	"fatbox rm":               {"rm", "web-01"},
	"fatbox stats":            {"stats", "web-01"},
	"fatbox usage":            {"usage", "web-01", "--from", "2026-12-01"},
	"fatbox doctor":           {"doctor", "web-01"},
	"fatbox snapshot create":  {"snapshot", "create", "web-01", "before"},
	"fatbox release":          {"release", "web-01", "--image", "app:v2"},
	"fatbox rollback":         {"rollback", "web-01"},
	"fatbox snapshot ls":      {"snapshot", "ls", "web-01"},
	"fatbox snapshot restore": {"snapshot", "restore", "web-01", "before"},
	"fatbox snapshot rm":      {"snapshot", "rm", "web-01", "before"},
	"fatbox commit":           {"commit", "web-01", "--image", "web-golden"},
	"fatbox volume create":    {"volume", "create", "data1", "--size", "10G"},
	"fatbox volume ls":        {"volume", "ls"},
	"fatbox volume inspect":   {"volume", "inspect", "data1"},
	"fatbox volume rm":        {"volume", "rm", "data1"},
	"fatbox audit ls":         {"audit", "ls"},
	"fatbox audit show":       {"audit", "show", "20261202T092000Z-3f9a1c2b"},
}

// withoutOutput are the commands that print without -o, each with why.
var withoutOutput = map[string]string{
	"fatbox daemon":            "serves the API; its log goes to stderr",
	"fatbox exec":              "streams the process's own output",
	"fatbox console":           "a terminal session",
	"fatbox logs":              "streams the log file as it is",
	"fatbox prog start":        "streams supervisord's ctl output",
	"fatbox prog stop":         "streams supervisord's ctl output",
	"fatbox prog restart":      "streams supervisord's ctl output",
	"fatbox inventory ansible": "prints Ansible's inventory-script JSON, the one form Ansible reads",
	"fatbox audit play":        "asciinema draws the recording on the terminal; --save writes the asciicast file",
}

// outputIgnored are commands that take -o (inherited from their group)
// but print text whatever it says.
var outputIgnored = map[string]string{}

// leaves returns every runnable command without subcommands, by path.
func leaves(c *cobra.Command) map[string]*cobra.Command {
	out := map[string]*cobra.Command{}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if !c.HasSubCommands() && c.Runnable() && c.Name() != "help" && c.Name() != "completion" {
			out[c.CommandPath()] = c
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(c)
	return out
}

func hasOutputFlag(c *cobra.Command) bool {
	f := c.Flags().Lookup("output")
	if f == nil {
		f = c.InheritedFlags().Lookup("output")
	}
	return f != nil && f.Shorthand == "o"
}

// Every command that prints has -o, or is listed above with the reason it
// has none; the lists hold no stale entries.
func TestOutputFlagOnEveryCommand(t *testing.T) {
	ls := leaves(newRootCmd())
	if len(ls) < 30 {
		t.Fatalf("found %d commands: the walk is broken", len(ls))
	}
	for path, c := range ls {
		_, listed := withoutOutput[path]
		switch has := hasOutputFlag(c); {
		case has && listed:
			t.Errorf("%s has -o now: drop it from withoutOutput", path)
		case !has && !listed:
			t.Errorf("%s has no -o/--output flag: give it one (addOutputFlag), or list it in withoutOutput with the reason", path)
		case has && outputArgs[path] == nil:
			t.Errorf("%s has -o: add the arguments that make it print to outputArgs", path)
		}
	}
	for _, m := range []map[string]string{withoutOutput, outputIgnored} {
		for path := range m {
			if ls[path] == nil {
				t.Errorf("%s is listed but is no command", path)
			}
		}
	}
	for path := range outputArgs {
		if ls[path] == nil {
			t.Errorf("outputArgs lists %s, which is no command", path)
		}
	}
}

// -o with an unknown format is refused before the daemon is asked.
func TestOutputFlagRefusesUnknownFormat(t *testing.T) {
	sock := absentSocket(t)
	for path, args := range outputArgs {
		if outputIgnored[path] != "" {
			continue
		}
		_, _, err := run(sock, append(args, "-o", "yaml")...)
		if err == nil || !strings.Contains(err.Error(), `unknown output format "yaml"`) || errors.Is(err, api.ErrDaemonDown) {
			t.Errorf("%s -o yaml: %v; want it refused before calling the daemon", path, err)
		}
	}
}

// -o json prints JSON (a stream of JSON lines for events), and the default
// output prints without failing.
func TestOutputJSON(t *testing.T) {
	f := newFakeDaemon(t)
	for path, args := range outputArgs {
		out, _, err := run(f.sock, append(args, "-o", "json")...)
		if err != nil {
			t.Errorf("%s -o json: %v", path, err)
			continue
		}
		valid := out != ""
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if path == "fatbox events" && !json.Valid([]byte(line)) {
				valid = false
			}
		}
		if path != "fatbox events" {
			valid = valid && json.Valid([]byte(out))
		}
		if valid == (outputIgnored[path] != "") {
			t.Errorf("%s -o json printed %q (JSON: %v; known gap: %v)", path, out, valid, outputIgnored[path] != "")
		}
		out, _, err = run(f.sock, args...)
		if err != nil || strings.TrimSpace(out) == "" {
			t.Errorf("%s: %v, printed %q", path, err, out)
		}
	}
}

// The JSON of a record is the API's: a script reads the fields it knows.
func TestOutputJSONShapes(t *testing.T) {
	f := newFakeDaemon(t)
	for _, c := range []struct {
		args []string
		into any
		want any
	}{
		{[]string{"ls", "-o", "json"}, &[]api.Container{}, &[]api.Container{testContainer}},
		{[]string{"create", "web-01", "--image", "i", "--pool", "prod", "-o", "json"}, &[]api.Container{}, &[]api.Container{testContainer}},
		{[]string{"pool", "show", "prod", "-o", "json"}, &api.Pool{}, &testPool},
		{[]string{"ip", "show", "198.18.0.5", "-o", "json"}, &[]api.Lease{}, &[]api.Lease{testLease}},
		{[]string{"image", "inspect", "debian12-fat", "-o", "json"}, &api.Image{}, &testImage},
		{[]string{"inventory", "export"}, &[]api.Container{}, &[]api.Container{testContainer}},
		{[]string{"volume", "ls", "-o", "json"}, &[]api.Volume{}, &[]api.Volume{testVolume}},
		{[]string{"volume", "inspect", "data1"}, &api.Volume{}, &testVolume},
	} {
		out, _, err := run(f.sock, c.args...)
		if err != nil {
			t.Errorf("%v: %v", c.args, err)
			continue
		}
		if err := json.Unmarshal([]byte(out), c.into); err != nil || !reflect.DeepEqual(c.into, c.want) {
			t.Errorf("%v: printed %s (%v)", c.args, out, err)
		}
	}
}

func TestCheckOutput(t *testing.T) {
	for _, ok := range []string{"table", "json"} {
		if err := checkOutput(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "JSON", "yaml", "text", "table "} {
		if err := checkOutput(bad); err == nil || !strings.Contains(err.Error(), "use -o table or -o json") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// A group command (pool, ip, image, prog, inventory) without a known
// subcommand is an error naming the choices, never cobra's help and exit 0.
func TestRequireSubcommands(t *testing.T) {
	sock := absentSocket(t)
	root := newRootCmd()
	groups := 0
	for _, g := range root.Commands() {
		if !g.HasSubCommands() || g.Name() == "help" || g.Name() == "completion" {
			continue
		}
		groups++
		var names []string
		for _, s := range g.Commands() {
			if s.IsAvailableCommand() {
				names = append(names, s.Name())
			}
		}
		choices := strings.Join(names, ", ")
		stdout, _, err := run(sock, g.Name())
		if err == nil || !strings.Contains(err.Error(), "`fatbox "+g.Name()+"` needs a subcommand: "+choices) || stdout != "" {
			t.Errorf("fatbox %s: %v, printed %q", g.Name(), err, stdout)
		}
		_, _, err = run(sock, g.Name(), "bogus")
		if err == nil || !strings.Contains(err.Error(), "`fatbox "+g.Name()+"` has no subcommand \"bogus\": use "+choices) {
			t.Errorf("fatbox %s bogus: %v", g.Name(), err)
		}
	}
	if groups < 5 {
		t.Fatalf("%d group commands found", groups)
	}
	_, _, err := run(sock, "pool")
	if err == nil || !strings.Contains(err.Error(), "needs a subcommand: create, ls, rm, show") {
		t.Fatalf("fatbox pool: %v", err)
	}
	if _, _, err := run(sock, "bogus"); err == nil || !strings.Contains(err.Error(), `unknown command "bogus"`) {
		t.Fatalf("fatbox bogus: %v", err)
	}
}

// requireSubcommands on a tree of its own: it arms groups only, names
// only the commands a user sees, and leaves a group's own RunE alone.
func TestRequireSubcommandsTree(t *testing.T) {
	ran := false
	root := &cobra.Command{Use: "x", SilenceErrors: true, SilenceUsage: true}
	grp := &cobra.Command{Use: "grp"}
	own := &cobra.Command{Use: "own", RunE: func(*cobra.Command, []string) error { ran = true; return nil }}
	noop := func(*cobra.Command, []string) error { return nil }
	grp.AddCommand(&cobra.Command{Use: "b", RunE: noop}, &cobra.Command{Use: "a", RunE: noop}, &cobra.Command{Use: "secret", Hidden: true, RunE: noop})
	own.AddCommand(&cobra.Command{Use: "c", RunE: noop})
	root.AddCommand(grp, own)
	requireSubcommands(root)
	if root.RunE != nil {
		t.Fatal("the root got a RunE")
	}
	root.SetArgs([]string{"grp", "zz"})
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), `has no subcommand "zz": use a, b (see`) {
		t.Fatalf("grp zz: %v", err)
	}
	root.SetArgs([]string{"own"})
	if err := root.Execute(); err != nil || !ran {
		t.Fatalf("own: %v, ran %v", err, ran)
	}
}

// A flag error says where the help is; an unknown flag also says how to
// pass a word that starts with '-'.
func TestFlagErrorHint(t *testing.T) {
	sock := absentSocket(t)
	for _, c := range []struct {
		args      []string
		want      []string
		dashHint  bool
		notWanted string
	}{
		{[]string{"ls", "--bogus"}, []string{"unknown flag: --bogus", "(see `fatbox ls --help`"}, true, ""},
		{[]string{"exec", "web-01", "-x"}, []string{"unknown shorthand flag: 'x'", "see `fatbox exec --help`"}, true, ""},
		{[]string{"pool", "create", "p", "--vlan", "ten"}, []string{`invalid argument "ten"`, "(see `fatbox pool create --help`)"}, false, ""},
		{[]string{"create", "web-01", "--cpus", "many"}, []string{`invalid argument "many"`, "(see `fatbox create --help`)"}, false, ""},
	} {
		_, _, err := run(sock, c.args...)
		if err == nil {
			t.Errorf("%v: no error", c.args)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: %q lacks %q", c.args, err, w)
			}
		}
		if strings.Contains(err.Error(), "after `--`") != c.dashHint {
			t.Errorf("%v: %q: the `--` hint should be there: %v", c.args, err, c.dashHint)
		}
	}
}

func TestPoolFromFlags(t *testing.T) {
	q0 := api.Duration(0)
	q2h := api.Duration(2 * time.Hour)
	for _, c := range []struct {
		name          string
		f             poolFlags
		quarantineSet bool
		want          api.Pool
	}{
		{"minimal", poolFlags{cidr: "198.18.0.0/24", bridge: "br0"}, false,
			api.Pool{Name: "prod", CIDR: netip.MustParsePrefix("198.18.0.0/24"), Gateway: netip.MustParseAddr("198.18.0.1"), Bridge: "br0"}},
		{"everything", poolFlags{cidr: "10.1.0.0/16", gateway: "10.1.255.254", bridge: "br1", createBridge: true, vlan: 42, uplink: "eth1", mtu: 9000,
			ranges: []string{"10.1.0.10-10.1.0.20", " 10.1.1.1 - 10.1.1.9 "}, reserved: []string{"10.1.0.15"}, quarantine: 2 * time.Hour}, true,
			api.Pool{Name: "prod", CIDR: netip.MustParsePrefix("10.1.0.0/16"), Gateway: netip.MustParseAddr("10.1.255.254"), Bridge: "br1",
				CreateBridge: true, VLAN: 42, Uplink: "eth1", MTU: 9000, Quarantine: &q2h,
				Ranges: []api.Range{{Start: netip.MustParseAddr("10.1.0.10"), End: netip.MustParseAddr("10.1.0.20")},
					{Start: netip.MustParseAddr("10.1.1.1"), End: netip.MustParseAddr("10.1.1.9")}},
				Reserved: []netip.Addr{netip.MustParseAddr("10.1.0.15")}}},
		{"quarantine 0 given", poolFlags{cidr: "198.18.0.0/24", quarantine: 0}, true,
			api.Pool{Name: "prod", CIDR: netip.MustParsePrefix("198.18.0.0/24"), Gateway: netip.MustParseAddr("198.18.0.1"), Quarantine: &q0}},
		{"quarantine default not sent", poolFlags{cidr: "198.18.0.0/24", quarantine: 24 * time.Hour}, false,
			api.Pool{Name: "prod", CIDR: netip.MustParsePrefix("198.18.0.0/24"), Gateway: netip.MustParseAddr("198.18.0.1")}},
	} {
		got, err := poolFromFlags("prod", c.f, c.quarantineSet)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %+v, %v\nwant %+v", c.name, got, err, c.want)
		}
	}
	for _, c := range []struct {
		name string
		f    poolFlags
		want string
	}{
		{"no cidr", poolFlags{bridge: "br0"}, "needs --cidr"},
		{"bad cidr", poolFlags{cidr: "198.18.0.0"}, `bad --cidr "198.18.0.0"`},
		{"cidr words", poolFlags{cidr: "prod-net"}, "bad --cidr"},
		{"bad gateway", poolFlags{cidr: "198.18.0.0/24", gateway: "198.18.0.300"}, `bad --gateway "198.18.0.300"`},
		{"range without dash", poolFlags{cidr: "198.18.0.0/24", ranges: []string{"198.18.0.10"}}, `bad --range "198.18.0.10"`},
		{"range half", poolFlags{cidr: "198.18.0.0/24", ranges: []string{"198.18.0.10-"}}, "bad --range"},
		{"range words", poolFlags{cidr: "198.18.0.0/24", ranges: []string{"low-high"}}, "bad --range"},
		{"bad reserve", poolFlags{cidr: "198.18.0.0/24", reserved: []string{"198.18.0.0/24"}}, `bad --reserve "198.18.0.0/24"`},
	} {
		_, err := poolFromFlags("prod", c.f, false)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	// The default gateway is the network's first address, whatever host
	// part the CIDR was written with.
	if p, err := poolFromFlags("prod", poolFlags{cidr: "198.18.0.77/24"}, false); err != nil || p.Gateway != netip.MustParseAddr("198.18.0.1") {
		t.Errorf("gateway of 198.18.0.77/24: %v, %v", p.Gateway, err)
	}
}

// pool create sends what poolFromFlags made; --quarantine only when given.
func TestPoolCreateRequest(t *testing.T) {
	f := newFakeDaemon(t)
	if _, _, err := run(f.sock, "pool", "create", "prod", "--cidr", "198.18.0.0/24", "--bridge", "br0"); err != nil {
		t.Fatal(err)
	}
	var sent map[string]any
	json.Unmarshal([]byte(f.last(t).Body), &sent)
	if _, has := sent["quarantine"]; has || sent["gateway"] != "198.18.0.1" || sent["bridge"] != "br0" {
		t.Fatalf("sent %s", f.last(t).Body)
	}
	if _, _, err := run(f.sock, "pool", "create", "prod", "--cidr", "198.18.0.0/24", "--bridge", "br0", "--quarantine", "0s"); err != nil {
		t.Fatal(err)
	}
	json.Unmarshal([]byte(f.last(t).Body), &sent)
	if sent["quarantine"] != "0s" {
		t.Fatalf("sent %s", f.last(t).Body)
	}
	// A bad flag is refused before the daemon is asked.
	n := len(f.requests())
	if _, _, err := run(f.sock, "pool", "create", "prod", "--cidr", "nope"); err == nil || len(f.requests()) != n {
		t.Fatalf("bad cidr: %v, %d requests", err, len(f.requests())-n)
	}
}

// ip: an address needs no --pool, a name does; --ip and --alive-file are
// read before the daemon is asked.
func TestIPFlags(t *testing.T) {
	f := newFakeDaemon(t)
	if _, _, err := run(f.sock, "ip", "show", "198.18.0.5"); err != nil || f.last(t).Path != "/v1/ips/198.18.0.5" {
		t.Fatalf("ip show ADDRESS: %v, %+v", err, f.last(t))
	}
	n := len(f.requests())
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"ip", "show", "web-01"}, "which pool? pass --pool"},
		{[]string{"ip", "ls"}, "which pool? pass --pool"},
		{[]string{"ip", "gc"}, "which pool? pass --pool"},
		{[]string{"ip", "allocate", "web-01", "--pool", "prod", "--ip", "198.18.0.300"}, `bad --ip "198.18.0.300"`},
		{[]string{"ip", "gc", "--pool", "prod", "--alive-file", filepath.Join(t.TempDir(), "none")}, "--alive-file:"},
	} {
		if _, _, err := run(f.sock, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
	if len(f.requests()) != n {
		t.Fatalf("refused commands sent %d requests", len(f.requests())-n)
	}
	if _, _, err := run(f.sock, "ip", "allocate", "web-01", "--pool", "prod", "--ip", "198.18.0.7"); err != nil {
		t.Fatal(err)
	}
	if s := f.last(t); s.Path != "/v1/pools/prod/leases" || s.Body != `{"name":"web-01","ip":"198.18.0.7"}` {
		t.Fatalf("allocate sent %+v", s)
	}
	file := filepath.Join(t.TempDir(), "alive")
	os.WriteFile(file, []byte("# legacy VMs\nvm-1\n\n  vm-2  \n#vm-3\n"), 0o644)
	out, _, err := run(f.sock, "ip", "gc", "--pool", "prod", "--alive", "a,b", "--alive-file", file, "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	var req api.GCRequest
	if err := json.Unmarshal([]byte(f.last(t).Body), &req); err != nil || strings.Join(req.Alive, ",") != "a,b,vm-1,vm-2" || !req.DryRun {
		t.Fatalf("gc sent %s (%v)", f.last(t).Body, err)
	}
	if !strings.Contains(out, "would release web-01 (198.18.0.5)") {
		t.Fatalf("gc printed %q", out)
	}
}

// ls filters go to the daemon as its query; a label filter needs KEY=VALUE.
func TestLsFilters(t *testing.T) {
	f := newFakeDaemon(t)
	if _, _, err := run(f.sock, "ls", "--app", "shop", "-l", "team=web", "-l", "tier=1", "--status", "running"); err != nil {
		t.Fatal(err)
	}
	if q := f.last(t).Query; q != "app=shop&label=team%3Dweb&label=tier%3D1&status=running" {
		t.Fatalf("query %q", q)
	}
	n := len(f.requests())
	for _, l := range []string{"team", "=web"} {
		if _, _, err := run(f.sock, "ls", "-l", l); err == nil || !strings.Contains(err.Error(), "KEY=VALUE") {
			t.Errorf("-l %q: %v", l, err)
		}
	}
	if len(f.requests()) != n {
		t.Fatal("a refused filter was sent")
	}
}

func TestUpdateRequest(t *testing.T) {
	changed := func(names ...string) func(string) bool {
		return func(n string) bool {
			for _, x := range names {
				if x == n {
					return true
				}
			}
			return false
		}
	}
	req, err := updateRequest(updateFlags{cpus: 2, memory: "4G", disk: "20G", owner: ""}, changed("cpus", "memory", "disk", "owner"))
	if err != nil || req.CPUs == nil || *req.CPUs != 2 || req.MemoryBytes == nil || *req.MemoryBytes != 4<<30 ||
		req.DiskBytes == nil || *req.DiskBytes != 20<<30 || req.SwapBytes != nil || req.Owner == nil || *req.Owner != "" || req.App != nil {
		t.Fatalf("got %+v, %v", req, err)
	}
	// A flag left at its value but not given is not sent.
	req, err = updateRequest(updateFlags{cpus: 2, memory: "4G", labels: []string{"team=web", "old-", "a=b=c"}}, changed())
	if err != nil || req.CPUs != nil || req.MemoryBytes != nil || !reflect.DeepEqual(req.SetLabels, map[string]string{"team": "web", "a": "b=c"}) ||
		!reflect.DeepEqual(req.RemoveLabels, []string{"old"}) {
		t.Fatalf("labels only: %+v, %v", req, err)
	}
	for _, c := range []struct {
		f       updateFlags
		changed []string
		want    string
	}{
		{updateFlags{}, nil, "nothing to update"},
		{updateFlags{cpus: 0}, []string{"cpus"}, "--cpus"},
		{updateFlags{memory: "lots"}, []string{"memory"}, "--memory"},
		{updateFlags{memory: "1"}, []string{"memory"}, "--memory"},
		{updateFlags{swap: "2X"}, []string{"swap"}, "--swap"},
		{updateFlags{disk: "-1G"}, []string{"disk"}, "--disk"},
		{updateFlags{labels: []string{"team"}}, nil, `label "team"`},
	} {
		if _, err := updateRequest(c.f, changed(c.changed...)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.f, err, c.want)
		}
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":                     {},
		"1h":                   now.Add(-time.Hour),
		"90m":                  now.Add(-90 * time.Minute),
		"0s":                   now,
		"2026-11-30T08:00:00Z": time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC),
	} {
		got, err := parseSince(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"-1h", "yesterday", "2026-11-30", "1d"} {
		if _, err := parseSince(bad, now); err == nil || !strings.Contains(err.Error(), "--since") {
			t.Errorf("parseSince(%q): %v", bad, err)
		}
	}
}

// inventory export -o csv: a header of exportColumns and a row per record.
func TestInventoryExportCSV(t *testing.T) {
	f := newFakeDaemon(t)
	out, _, err := run(f.sock, "inventory", "export", "-o", "csv")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || lines[0] != strings.Join(exportColumns, ",") {
		t.Fatalf("csv %q", out)
	}
	row := strings.Split(lines[1], ",")
	if len(row) != len(exportColumns) {
		t.Fatalf("%d fields for %d columns: %q", len(row), len(exportColumns), lines[1])
	}
	col := map[string]string{}
	for i, c := range exportColumns {
		col[c] = row[i]
	}
	if col["name"] != "web-01" || col["id"] != testContainer.ID || col["memory_mib"] != "1024" || col["labels"] != "team=web" || col["created_at"] != "2026-11-30T12:00:00Z" {
		t.Fatalf("row %v", col)
	}
	if _, _, err := run(f.sock, "inventory", "export", "-o", "table"); err == nil || !strings.Contains(err.Error(), "use -o json or -o csv") {
		t.Fatalf("-o table: %v", err)
	}
}

// inventory ansible --list and --host against the fake daemon: the
// script's JSON, the filters sent as ls sends them, and the socket from
// $FATBOX_SOCKET when no --socket is given.
func TestInventoryAnsible(t *testing.T) {
	f := newFakeDaemon(t)
	out, _, err := run(f.sock, "inventory", "ansible", "--list", "--app", "shop", "-l", "team=web")
	if err != nil {
		t.Fatal(err)
	}
	if r := f.last(t); r.Method != "GET" || r.Path != "/v1/containers" || r.Query != "app=shop&label=team%3Dweb" {
		t.Errorf("asked %+v", r)
	}
	var list struct {
		All  struct{ Children []string } `json:"all"`
		Meta struct {
			Hostvars map[string]map[string]any `json:"hostvars"`
		} `json:"_meta"`
		Shop    struct{ Hosts []string } `json:"app_shop"`
		Running struct{ Hosts []string } `json:"running"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("--list printed %s: %v", out, err)
	}
	if want := []string{"app_shop", "node_n1", "running", "team_web"}; !reflect.DeepEqual(list.All.Children, want) ||
		!reflect.DeepEqual(list.Shop.Hosts, []string{"web-01"}) || !reflect.DeepEqual(list.Running.Hosts, []string{"web-01"}) {
		t.Errorf("--list printed %s", out)
	}
	hv := list.Meta.Hostvars["web-01"]
	if hv["ansible_host"] != "198.18.0.5" || hv["fatbox_id"] != testContainer.ID || hv["fatbox_memory_mib"] != float64(1024) {
		t.Errorf("web-01's hostvars: %v", hv)
	}
	out, _, err = run(f.sock, "inventory", "ansible", "--host", "web-01")
	var host map[string]any
	if err != nil || json.Unmarshal([]byte(out), &host) != nil || !reflect.DeepEqual(host, hv) {
		t.Errorf("--host web-01: %v, printed %s; want the hostvars of --list %v", err, out, hv)
	}
	if _, _, err := run(f.sock, "inventory", "ansible", "--host", "web-99"); err == nil || !strings.Contains(err.Error(), `container "web-99" is not in the inventory`) {
		t.Errorf("--host web-99: %v", err)
	}
	for _, args := range [][]string{{}, {"--list", "--host", "web-01"}} {
		_, _, err := run(absentSocket(t), append([]string{"inventory", "ansible"}, args...)...)
		if err == nil || !strings.Contains(err.Error(), "give --list") {
			t.Errorf("inventory ansible %v: %v", args, err)
		}
	}
	if _, _, err := run(f.sock, "inventory", "ansible", "--list", "-l", "team"); err == nil || !strings.Contains(err.Error(), "KEY=VALUE") {
		t.Errorf("-l team: %v", err)
	}
	// The script form takes no flags: $FATBOX_SOCKET names the daemon.
	t.Setenv("FATBOX_SOCKET", f.sock)
	root := newRootCmd()
	var buf bytes.Buffer
	root.SetOut(&buf)
	root.SetArgs(ansibleInventoryArgs("/etc/ansible/fatbox-ansible-inventory", []string{"--list"}))
	if err := root.Execute(); err != nil || !json.Valid(buf.Bytes()) || !strings.Contains(buf.String(), `"app_shop"`) {
		t.Errorf("as the inventory script with FATBOX_SOCKET: %v, printed %s", err, buf.String())
	}
	if _, _, err := run(absentSocket(t), "inventory", "ansible", "--list"); !errors.Is(err, api.ErrDaemonDown) {
		t.Errorf("--socket beats FATBOX_SOCKET: %v", err)
	}
}

func TestCodeErr(t *testing.T) {
	boom := errors.New("boom")
	if codeErr(0, nil) != nil {
		t.Error("exit 0 is an error")
	}
	var ec exitCode
	if err := codeErr(3, nil); !errors.As(err, &ec) || ec != 3 || err.Error() != "exit status 3" {
		t.Errorf("exit 3: %v", err)
	}
	if err := codeErr(-1, boom); err != boom {
		t.Errorf("an error with a code: %v", err)
	}
}

// The daemon's answer reaches the user as is (no "fatbox daemon at"
// wrapping), and a missing daemon says how to start it.
func TestDaemonErrorsReachTheUser(t *testing.T) {
	_, _, err := run(absentSocket(t), "ls")
	if !errors.Is(err, api.ErrDaemonDown) || !strings.Contains(err.Error(), "fatbox daemon") {
		t.Fatalf("no daemon: %v", err)
	}
	f := newFakeDaemon(t)
	_, _, err = run(f.sock, "prog", "ls", "web-01", "cron")
	if err == nil || !strings.Contains(err.Error(), `has no program "cron"`) {
		t.Fatalf("prog ls of a program it lacks: %v", err)
	}
}
