package limits

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const (
	mi = int64(1) << 20
	gi = int64(1) << 30
)

// testHost is a 2-CPU, 24 GiB host whose state filesystem is 100 GiB: with
// the defaults the ceilings are 8 CPUs, 36 GiB of memory and 400 GiB of disk.
func testHost() Host { return Host{CPUs: 2, MemoryBytes: 24 * gi, DiskBytes: 100 * gi} }

func TestAdmit(t *testing.T) {
	o := DefaultOvercommit()
	for _, c := range []struct {
		name      string
		u         Usage
		cpus      float64
		mem, disk int64
		want      []string // parts of the message, one per line; nil: admitted
	}{
		{name: "empty host", cpus: 1, mem: gi, disk: 10 * gi},
		{name: "cpu at the ceiling", u: Usage{CPUs: 7, Containers: 3}, cpus: 1, mem: gi, disk: gi},
		{name: "cpu just past the ceiling", u: Usage{CPUs: 7, Containers: 3}, cpus: 1.01, mem: gi, disk: gi, want: []string{
			"cpu: 7 CPUs in use (3 containers) + 1.01 asked = 8.01, over the ceiling 8 (4 x 2 host CPUs): ask for at most 1 CPUs, remove containers, or raise overcommit.cpu in /etc/fatbox/fatbox.yaml"}},
		{name: "cpu full", u: Usage{CPUs: 8, Containers: 1}, cpus: 0.01, mem: gi, disk: gi, want: []string{
			"cpu: 8 CPUs in use (1 container) + 0.01 asked = 8.01, over the ceiling 8 (4 x 2 host CPUs): nothing is left to ask for: remove containers, or raise overcommit.cpu"}},
		{name: "memory at the ceiling", u: Usage{MemoryBytes: 34 * gi, Containers: 5}, cpus: 1, mem: 2 * gi, disk: gi},
		{name: "memory just past the ceiling", u: Usage{MemoryBytes: 34 * gi, Containers: 5}, cpus: 1, mem: 2*gi + mi, disk: gi, want: []string{
			"memory: 34.0 GiB of limits in use (5 containers) + 2049 MiB asked = 36865 MiB, over the ceiling 36 GiB (1.5 x 24.0 GiB host memory): ask for at most 2 GiB, remove containers, or raise overcommit.memory in /etc/fatbox/fatbox.yaml"}},
		{name: "memory well past the ceiling", u: Usage{MemoryBytes: 24 * gi, Containers: 12}, cpus: 1, mem: 13 * gi, disk: gi, want: []string{
			"memory: 24.0 GiB of limits in use (12 containers) + 13 GiB asked = 37.0 GiB, over the ceiling 36.0 GiB (1.5 x 24.0 GiB host memory): ask for at most 12 GiB, remove containers, or raise overcommit.memory in /etc/fatbox/fatbox.yaml"}},
		{name: "memory less left than the minimum", u: Usage{MemoryBytes: 36*gi - 10*mi, Containers: 9}, cpus: 1, mem: 64 * mi, disk: gi, want: []string{
			"memory: ", "nothing is left to ask for: remove containers, or raise overcommit.memory"}},
		{name: "disk at the ceiling", u: Usage{DiskBytes: 390 * gi, Containers: 39}, cpus: 1, mem: gi, disk: 10 * gi},
		{name: "disk just past the ceiling", u: Usage{DiskBytes: 390 * gi, Containers: 39}, cpus: 1, mem: gi, disk: 10*gi + mi, want: []string{
			"disk: 390.0 GiB of disks in use (39 containers) + 10241 MiB asked = 409601 MiB, over the ceiling 400 GiB (4 x 100.0 GiB state filesystem): ask for at most 10 GiB, remove containers, or raise overcommit.disk in /etc/fatbox/fatbox.yaml"}},
		{name: "disk as large as the filesystem", cpus: 1, mem: gi, disk: 100 * gi},
		{name: "disk larger than the filesystem", cpus: 1, mem: gi, disk: 100*gi + mi, want: []string{
			"disk: 102401 MiB asked is more than the whole state filesystem (100.0 GiB) could ever hold: give a disk of at most 100 GiB"}},
		{name: "all three over", u: Usage{CPUs: 8, MemoryBytes: 36 * gi, DiskBytes: 400 * gi, Containers: 40}, cpus: 1, mem: gi, disk: gi, want: []string{
			"cpu: 8 CPUs in use", "memory: 36.0 GiB of limits in use", "disk: 400.0 GiB of disks in use"}},
	} {
		err := o.Admit(testHost(), c.u, c.cpus, c.mem, c.disk)
		if c.want == nil {
			if err != nil {
				t.Errorf("%s: Admit: %v, want nil", c.name, err)
			}
			continue
		}
		if err == nil || !errors.Is(err, ErrOvercommit) || errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Admit: %v, want an ErrOvercommit", c.name, err)
			continue
		}
		lines := strings.Split(err.Error(), "\n")
		if len(c.want) > 1 && len(lines) == len(c.want) {
			for i, w := range c.want {
				if !strings.Contains(lines[i], w) {
					t.Errorf("%s: Admit line %d: %q, want it to contain %q", c.name, i, lines[i], w)
				}
			}
		} else if len(c.want) == 1 && len(lines) == 1 {
			if !strings.Contains(err.Error(), c.want[0]) {
				t.Errorf("%s: Admit: %q\nwant it to contain %q", c.name, err, c.want[0])
			}
		} else if len(c.want) != 2 || !strings.Contains(err.Error(), c.want[0]) || !strings.Contains(err.Error(), c.want[1]) {
			t.Errorf("%s: Admit: %q, want %q", c.name, err, c.want)
		}
		var e *Error
		if !errors.As(err, &e) || e.Field == "" || e.Rule == "" || e.Fix == "" || e.Value != "" {
			t.Errorf("%s: Admit: %#v, want an *Error with field, rule and fix", c.name, e)
		}
	}
}

// sum adds at run time (constant expressions are exact in Go).
func sum(xs ...float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s
}

// TestAdmitCPUFractions: CPU sums are exact at the ceiling although float64
// sums are not: 0.1 + 0.1 + 0.1 is 0.30000000000000004.
func TestAdmitCPUFractions(t *testing.T) {
	o := Overcommit{CPU: 0.15, Memory: 1.5, Disk: 4} // ceiling 0.3 on 2 CPUs
	used := sum(0.1, 0.1)
	if used+0.1 <= 0.3 {
		t.Fatalf("float64 sums became exact: %v", used+0.1)
	}
	if err := o.Admit(testHost(), Usage{CPUs: used, Containers: 2}, 0.1, gi, gi); err != nil {
		t.Errorf("Admit 0.1 + 0.1 + 0.1 CPUs under a 0.3 ceiling: %v", err)
	}
	err := o.Admit(testHost(), Usage{CPUs: used, Containers: 2}, 0.11, gi, gi)
	if !errors.Is(err, ErrOvercommit) || !strings.Contains(err.Error(), "cpu: 0.2 CPUs in use (2 containers) + 0.11 asked = 0.31, over the ceiling 0.3 (0.15 x 2 host CPUs): ask for at most 0.1 CPUs") {
		t.Errorf("Admit 0.11 past: %v", err)
	}
}

// TestAdmitCallerBugs: what Admit cannot judge is the caller's bug, a plain
// error the daemon must not pass off as the client's (no sentinel).
func TestAdmitCallerBugs(t *testing.T) {
	o := DefaultOvercommit()
	for _, c := range []struct {
		name      string
		o         Overcommit
		h         Host
		u         Usage
		cpus      float64
		mem, disk int64
		want      string
	}{
		{"zero overcommit", Overcommit{}, testHost(), Usage{}, 1, gi, gi, "the daemon's overcommit settings are invalid"},
		{"unknown host", o, Host{}, Usage{}, 1, gi, gi, "host figures unknown"},
		{"negative usage", o, testHost(), Usage{MemoryBytes: -1}, 1, gi, gi, "usage figures invalid"},
		{"NaN usage", o, testHost(), Usage{CPUs: math.NaN()}, 1, gi, gi, "usage figures invalid"},
		{"huge usage", o, testHost(), Usage{CPUs: 1e300}, 1, gi, gi, "usage figures invalid"},
		{"NaN ask", o, testHost(), Usage{}, math.NaN(), gi, gi, "run CheckCPUs"},
		{"huge ask", o, testHost(), Usage{}, 1e19, gi, gi, "run CheckCPUs"},
		{"negative disk", o, testHost(), Usage{}, 1, gi, -1, "run CheckCPUs"},
	} {
		err := c.o.Admit(c.h, c.u, c.cpus, c.mem, c.disk)
		if err == nil || !strings.Contains(err.Error(), c.want) || errors.Is(err, ErrInvalid) || errors.Is(err, ErrOvercommit) {
			t.Errorf("%s: Admit: %v, want a plain error with %q", c.name, err, c.want)
		}
	}
}

// TestAdmitHugeRatio: a disk ratio so large its ceiling passes int64 admits,
// it does not wrap around.
func TestAdmitHugeRatio(t *testing.T) {
	o := Overcommit{CPU: 1, Memory: 1, Disk: 1e300}
	if err := o.Admit(testHost(), Usage{DiskBytes: math.MaxInt64 - gi}, 1, gi, gi); err != nil {
		t.Errorf("Admit: %v", err)
	}
	f := o.Figures(testHost(), Usage{})
	if f[2].Ceiling != math.MaxInt64 {
		t.Errorf("disk ceiling %v, want it clamped to MaxInt64", f[2].Ceiling)
	}
}

func TestOvercommitValidate(t *testing.T) {
	for _, c := range []struct {
		o    Overcommit
		want []string
	}{
		{DefaultOvercommit(), nil},
		{Overcommit{CPU: 1, Memory: 1, Disk: 1}, nil},
		{Overcommit{CPU: 0.5, Memory: 0.8, Disk: 0.9}, nil},
		{Overcommit{CPU: 64, Memory: 4, Disk: 100}, nil},
		{Overcommit{}, []string{
			"overcommit.cpu 0: not above zero: set overcommit.cpu in /etc/fatbox/fatbox.yaml to a ratio like 4 (the default)",
			"overcommit.memory 0: not above zero: set overcommit.memory in /etc/fatbox/fatbox.yaml to a ratio like 1.5 (the default)",
			"overcommit.disk 0: not above zero: set overcommit.disk in /etc/fatbox/fatbox.yaml to a ratio like 4 (the default)"}},
		{Overcommit{CPU: 4, Memory: 4.01, Disk: 4}, []string{
			"overcommit.memory 4.01: above the cap 4 (past it a few busy containers take the host into the OOM killer): set overcommit.memory in /etc/fatbox/fatbox.yaml to at most 4"}},
		{Overcommit{CPU: math.NaN(), Memory: 1.5, Disk: math.Inf(1)}, []string{
			"overcommit.cpu NaN: not a finite number", "overcommit.disk +Inf: not a finite number"}},
		{Overcommit{CPU: -4, Memory: 1.5, Disk: 4}, []string{"overcommit.cpu -4: not above zero"}},
	} {
		err := c.o.Validate()
		if c.want == nil {
			if err != nil {
				t.Errorf("%+v: Validate: %v", c.o, err)
			}
			continue
		}
		if err == nil || !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: Validate: %v, want ErrInvalid", c.o, err)
			continue
		}
		lines := strings.Split(err.Error(), "\n")
		if len(lines) != len(c.want) {
			t.Errorf("%+v: Validate: %q, want %q", c.o, err, c.want)
			continue
		}
		for i := range lines {
			if !strings.HasPrefix(lines[i], c.want[i]) {
				t.Errorf("%+v: Validate line %d: %q, want %q", c.o, i, lines[i], c.want[i])
			}
		}
	}
}

// TestOvercommitConfig: the daemon's config decodes over the defaults, so a
// key left out keeps its default; the JSON keys are the same.
func TestOvercommitConfig(t *testing.T) {
	var cfg struct {
		Overcommit Overcommit `yaml:"overcommit"`
	}
	cfg.Overcommit = DefaultOvercommit()
	if err := yaml.Unmarshal([]byte("overcommit: {cpu: 8, disk: 2}\n"), &cfg); err != nil {
		t.Fatal(err)
	}
	if want := (Overcommit{CPU: 8, Memory: 1.5, Disk: 2}); cfg.Overcommit != want {
		t.Errorf("decoded %+v, want %+v", cfg.Overcommit, want)
	}
	b, err := json.Marshal(DefaultOvercommit())
	if err != nil || string(b) != `{"cpu":4,"memory":1.5,"disk":4}` {
		t.Errorf("json %s, %v", b, err)
	}
}

func TestFigures(t *testing.T) {
	o := DefaultOvercommit()
	u := Usage{CPUs: sum(0.1, 0.2, 7.2), MemoryBytes: 24 * gi, DiskBytes: 150 * gi, Containers: 4}
	got := o.Figures(testHost(), u)
	want := []Figure{
		{Name: "cpu", Used: 7.5, Ceiling: 8, Unit: "CPUs"},
		{Name: "memory", Used: float64(24 * gi), Ceiling: float64(36 * gi), Unit: "bytes"},
		{Name: "disk", Used: float64(150 * gi), Ceiling: float64(400 * gi), Unit: "bytes"},
	}
	if len(got) != len(want) {
		t.Fatalf("Figures: %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Figures[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	for i, s := range []string{"cpu: 7.5 of 8 CPUs (94%)", "memory: 24.0 GiB of 36.0 GiB (67%)", "disk: 150.0 GiB of 400.0 GiB (38%)"} {
		if got[i].String() != s {
			t.Errorf("Figures[%d].String() = %q, want %q", i, got[i].String(), s)
		}
	}
	// A ratio that does not divide evenly: the ceiling is rounded down, the
	// same one Admit uses.
	odd := Overcommit{CPU: 1.5, Memory: 1.1, Disk: 1}
	h := Host{CPUs: 3, MemoryBytes: 1000, DiskBytes: 100 * gi}
	f := odd.Figures(h, Usage{})
	if f[0].Ceiling != 4.5 || f[1].Ceiling != 1100 {
		t.Errorf("odd ceilings %v, %v; want 4.5, 1100", f[0].Ceiling, f[1].Ceiling)
	}
	if err := odd.Admit(h, Usage{CPUs: 4}, 0.5, 1100, MinDisk); err != nil {
		t.Errorf("Admit at the odd ceilings: %v", err)
	}
	if err := odd.Admit(h, Usage{CPUs: 4}, 0.50001, 1100, MinDisk); !errors.Is(err, ErrOvercommit) {
		t.Errorf("Admit 1e-5 CPU past the odd ceiling: %v", err)
	}
}
