package cmdbsync

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fatbox/fatbox/inventory"
)

func TestDefaultMapping(t *testing.T) {
	m := DefaultMapping()
	if m.Table != DefaultTable || m.Key.Column != "id" || m.Decommission.Column != "status" || m.OnUniqueConflict != PolicyError {
		t.Fatalf("%+v", m)
	}
	if m.Columns[0].Name != "name" || m.Columns[len(m.Columns)-1].Name != "changed_at" {
		t.Fatal("columns not in file order")
	}
}

// Every problem of a mapping file at once, with its line; unknown keys
// refused.
func TestParseMappingProblems(t *testing.T) {
	_, err := ParseMapping([]byte(`
table: cmdb.vms
key: {column: asset_no, format: "FB-%d"}
columns:
  host: {field: hostnme}
  ram: {field: memory_mib, devide: 1024}
  state: {field: status, const: x}
  tag: {const: 1, map: {a: b}, default: c, format: "%s-%s"}
  asset_no: id
  cap: {field: name, round: 2}
colour: blue
`))
	var me *MappingError
	if !errors.As(err, &me) || !errors.Is(err, ErrMapping) {
		t.Fatalf("want a MappingError, got %v", err)
	}
	for _, want := range []string{
		`line 2: table "cmdb.vms" names a database`,
		`line 3: column asset_no: key format: "FB-%d" has %d`,
		`line 5: column host: unknown field "hostnme"`,
		`line 6: unknown key "devide" in column ram`,
		`line 7: column state: more than one source`,
		`column tag: format: "%s-%s" has 2 %s`,
		`line 9: column asset_no: the key column is also under columns`,
		`column cap: round needs a number: the container name (up to 63 characters) is not one`,
		`line 11: unknown key "colour" in the mapping; fix: use one of: table, key, columns, decommission, on_unique_conflict`,
		`no decommission given`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestLoadMapping(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.yaml")
	if err := os.WriteFile(p, DefaultMappingYAML(), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := LoadMapping(p)
	if err != nil || m.File != p {
		t.Fatal(m, err)
	}
	if _, err := LoadMapping(filepath.Join(t.TempDir(), "none.yaml")); err == nil {
		t.Fatal("a missing file loaded")
	}
}

// The transforms, one after another: source, multiply/divide, round, map,
// format.
func TestTransforms(t *testing.T) {
	m, err := ParseMapping([]byte(`
table: t
key: {column: k, format: "FB-%s"}
columns:
  gib: {field: memory_mib, divide: 1024, round: 1}
  mb: {field: memory_mib, multiply: 1.048576, round: 0}
  st: {field: status, map: {running: online, stopped: offline}, default: unknown}
  envc: {field: env, map: {prod: PRODUCTION}, default: OTHER}
  word: {field: status, map: {running: up}}
  fq: {field: hostname, format: "%s.dc1.example.com"}
  pct: {field: cpus, multiply: 100, round: 0, format: "%s%%"}
  team: label:team
  kind: {const: vm}
  flag: {const: true}
  nothing: {const: null}
  born: {time: created}
  gone: {time: removed}
decommission: {column: st, value: retired}
`))
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st := &state{id: "x", rec: inventory.Record{Name: "web-01", Hostname: "web-01", MemoryMiB: 1536, CPUs: 0.5, Status: "stopped", Env: "prod",
		Labels: map[string]string{"team": "pay"}, CreatedAt: created}}
	want := map[string]string{"gib": "1.5", "mb": "1611", "st": "offline", "word": "stopped", "fq": "web-01.dc1.example.com",
		"pct": "50%", "team": "pay", "envc": "PRODUCTION", "kind": "vm", "flag": "1", "nothing": "", "born": "2026-01-02 03:04:05", "gone": ""}
	for i := range m.Columns {
		c := &m.Columns[i]
		if got := c.eval(st).text(); got != want[c.Name] {
			t.Errorf("%s = %q, want %q", c.Name, got, want[c.Name])
		}
	}
	st.rec.MemoryMiB, st.rec.Status, st.rec.Env = 1000, inventory.StatusStopping, "dev"
	for i := range m.Columns {
		c := &m.Columns[i]
		switch c.Name {
		case "gib":
			if got := c.eval(st).text(); got != "1.0" {
				t.Errorf("1000 MiB = %s GiB", got)
			}
		case "st": // a stop under way shows running until its event
			if got := c.eval(st).text(); got != "online" {
				t.Errorf("stopping: %s", got)
			}
		case "envc":
			if got := c.eval(st).text(); got != "OTHER" {
				t.Errorf("default: %s", got)
			}
		}
	}
	// Static types: the map's words, the format's length.
	for i := range m.Columns {
		c := &m.Columns[i]
		vt, _ := c.staticType(true)
		switch c.Name {
		case "st":
			if strings.Join(vt.words, ",") != "offline,online" {
				t.Errorf("st words %v", vt.words)
			}
		case "fq":
			if vt.maxLen != 63+len(".dc1.example.com") {
				t.Errorf("fq maxLen %d", vt.maxLen)
			}
		case "gib":
			if vt.k != kNum || vt.digits != 1 || vt.max != 65536 {
				t.Errorf("gib type %+v", vt)
			}
		}
	}
}

func TestSplitFormat(t *testing.T) {
	for _, tc := range []struct{ f, pre, suf, err string }{
		{"%s", "", "", ""},
		{"FB-%s", "FB-", "", ""},
		{"%s.example.com", "", ".example.com", ""},
		{"100%% %s", "100% ", "", ""},
		{"%d", "", "", "%d"},
		{"x", "", "", "exactly one"},
		{"%s%s", "", "", "exactly one"},
		{"50%", "", "", "lone"},
	} {
		pre, suf, err := splitFormat(tc.f)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v", tc.f, err)
			}
			continue
		}
		if err != nil || pre != tc.pre || suf != tc.suf {
			t.Errorf("%q: %q %q %v", tc.f, pre, suf, err)
		}
	}
}

func TestAfterCommitFailpoint(t *testing.T) {
	if h, err := AfterCommitFailpoint("", "", nil); h != nil || err != nil {
		t.Fatal("empty spec")
	}
	for _, bad := range []string{"before-commit", "after-commit:x", "after-commit5"} {
		if _, err := AfterCommitFailpoint(bad, "/tmp/m", nil); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := AfterCommitFailpoint("after-commit", "", nil); err == nil {
		t.Error("no mark accepted")
	}
	mark := filepath.Join(t.TempDir(), "mark")
	h, err := AfterCommitFailpoint("after-commit:7", mark, nil)
	if err != nil {
		t.Fatal(err)
	}
	h(6) // before the point: returns
	go h(7)
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(mark)
		if err == nil {
			if !strings.HasPrefix(string(b), "after-commit 7 ") {
				t.Fatalf("mark %q", b)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no mark")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEnumWords(t *testing.T) {
	got := enumWords(`enum('online','off''line','a,b')`)
	if strings.Join(got, "|") != "online|off'line|a,b" {
		t.Fatal(got)
	}
}

// The example in the package documentation is a valid mapping.
func TestDocExample(t *testing.T) {
	b, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var y []string
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "//\t# the table, in the DSN's database") {
			in = true
		}
		if in {
			l, ok := strings.CutPrefix(line, "//\t")
			switch {
			case line == "//":
				l = ""
			case !ok:
				in = false
				continue
			}
			y = append(y, l)
		}
	}
	m, err := ParseMapping([]byte(strings.Join(y, "\n")))
	if err != nil {
		t.Fatalf("%v\n%s", err, strings.Join(y, "\n"))
	}
	if m.Table != "assets" || len(m.Columns) != 18 || m.OnUniqueConflict != PolicyReleaseDecommissioned || m.Decommission.TimeColumn != "retired_on" {
		t.Fatalf("%+v", m)
	}
}
