package limits

import (
	"errors"
	"strings"
	"testing"
)

func TestParseUlimit(t *testing.T) {
	for _, c := range []struct {
		in   string
		name string
		want Ulimit
		err  string
	}{
		{in: "nofile=65536:65536", name: "nofile", want: Ulimit{65536, 65536}},
		{in: "nofile=65536", name: "nofile", want: Ulimit{65536, 65536}},
		{in: "NOFILE=1024:65536", name: "nofile", want: Ulimit{1024, 65536}},
		{in: "nproc=unlimited", name: "nproc", want: Ulimit{Unlimited, Unlimited}},
		{in: "nproc=4096:-1", name: "nproc", want: Ulimit{4096, Unlimited}},
		{in: "memlock=unlimited:unlimited", name: "memlock", want: Ulimit{Unlimited, Unlimited}},
		{in: "memlock=64M", name: "memlock", want: Ulimit{64 << 20, 64 << 20}},
		{in: "memlock=65536", name: "memlock", want: Ulimit{65536, 65536}},
		{in: "core=0:unlimited", name: "core", want: Ulimit{0, Unlimited}},
		{in: "core=0", name: "core", want: Ulimit{0, 0}},
		{in: "stack=8M:unlimited", name: "stack", want: Ulimit{8 << 20, Unlimited}},
		{in: "stack=10240K:32M", name: "stack", want: Ulimit{10 << 20, 32 << 20}},
		{in: "nofile", err: `--ulimit "nofile": not NAME=VALUE: write NAME=SOFT:HARD`},
		{in: "nofile=", err: "not NAME=VALUE"},
		{in: "=5", err: "not NAME=VALUE"},
		{in: "files=1024", err: `unknown limit "files"`},
		{in: "rss=1G", err: `unknown limit "rss"`},
		{in: "nofile=64k", err: `nofile takes a whole number, "64k" is not one`},
		{in: "nofile=1.5", err: "whole number"},
		{in: "nofile=-5", err: "whole number"},
		{in: "nofile=65536:", err: "an empty value"},
		{in: "nofile=65536:1024", err: `--ulimit "nofile=65536:1024": the soft limit is above the hard limit`},
		{in: "nofile=unlimited", err: "it cannot be unlimited"},
		{in: "nofile=2000000000", err: "nofile above 1073741824"},
		{in: "nofile=10", err: "nofile below 64"},
		{in: "nproc=1", err: "nproc below 16"},
		{in: "stack=4K", err: "stack below 128K"},
		{in: "memlock=2X", err: `memlock takes a size in bytes, "2X" is not one`},
		{in: "memlock=1.3G", err: "size in bytes"},
		{in: "nproc=18446744073709551615", err: "whole number"},
	} {
		name, got, err := ParseUlimit("--ulimit", c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseUlimit(%q) = %v, %+v, %v; want an error with %q", c.in, name, got, err, c.err)
			} else if !errors.Is(err, ErrInvalid) {
				t.Errorf("ParseUlimit(%q): %v does not wrap ErrInvalid", c.in, err)
			}
			continue
		}
		if err != nil || name != c.name || got != c.want {
			t.Errorf("ParseUlimit(%q) = %q, %+v, %v; want %q, %+v", c.in, name, got, err, c.name, c.want)
			continue
		}
		// What FormatUlimit writes, ParseUlimit reads back.
		back := name + "=" + FormatUlimit(name, got)
		if n2, u2, err := ParseUlimit("x", back); err != nil || n2 != name || u2 != got {
			t.Errorf("ParseUlimit(FormatUlimit) of %q: %q = %q %+v %v", c.in, back, n2, u2, err)
		}
	}
}

func TestFormatUlimit(t *testing.T) {
	for _, c := range []struct {
		name string
		u    Ulimit
		want string
	}{
		{"nofile", Ulimit{65536, 65536}, "65536"},
		{"nofile", Ulimit{1024, 20000}, "1024:20000"},
		{"nproc", Ulimit{Unlimited, Unlimited}, "unlimited"},
		{"core", Ulimit{0, Unlimited}, "0:unlimited"},
		{"stack", Ulimit{8 << 20, Unlimited}, "8M:unlimited"},
		{"memlock", Ulimit{8 << 20, 8 << 20}, "8M"},
		{"memlock", Ulimit{65 << 10, 1000}, "65K:1000"},
		{"nofile", Ulimit{1 << 20, 1 << 20}, "1048576"}, // a count never gets a unit
	} {
		if got := FormatUlimit(c.name, c.u); got != c.want {
			t.Errorf("FormatUlimit(%s, %+v) = %q, want %q", c.name, c.u, got, c.want)
		}
	}
	got := FormatUlimits(map[string]Ulimit{"stack": {8 << 20, Unlimited}, "nofile": {1024, 4096}, "core": {0, 0}})
	if want := "nofile=1024:4096 core=0 stack=8M:unlimited"; got != want {
		t.Errorf("FormatUlimits = %q, want %q", got, want)
	}
}

func TestDefaultUlimitsPassTheirRules(t *testing.T) {
	ds := DefaultUlimits()
	if len(ds) != len(UlimitNames()) {
		t.Errorf("defaults %v do not cover every name %v", ds, UlimitNames())
	}
	for n, u := range ds {
		if err := CheckUlimit("default", n, u); err != nil {
			t.Errorf("default %s: %v", n, err)
		}
		if _, ok := RlimitType(n); !ok {
			t.Errorf("default %s has no RLIMIT_ type", n)
		}
	}
	if ds["nofile"].Hard < 65535 {
		t.Errorf("default nofile %+v would refuse a Java limits.conf (nofile 65535)", ds["nofile"])
	}
}

func TestHostUlimits(t *testing.T) {
	// This sandbox's daemon: nofile hard 20000, no CAP_SYS_RESOURCE.
	hard := map[string]uint64{"nofile": 20000, "nproc": 96549, "memlock": 8 << 20, "core": Unlimited, "stack": Unlimited}
	h := hostUlimits(hard, 1<<20, false)
	err := h.Check("--ulimit", "nofile", Ulimit{65536, 65536})
	for _, want := range []string{`--ulimit "nofile=65536"`, "hard nofile 65536 is above this host's 20000", "the fatbox daemon's own hard nofile limit",
		"ask for at most nofile=20000", "LimitNOFILE=", "tools/systemd/fatbox.service", "ulimit -Hn"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check nofile 65536 on a 20000 host: %v; want %q in it", err, want)
		}
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("%v does not wrap ErrInvalid", err)
	}
	if err := h.Check("x", "nofile", Ulimit{20000, 20000}); err != nil {
		t.Errorf("nofile at the host's limit: %v", err)
	}
	if err := h.Check("x", "memlock", Ulimit{Unlimited, Unlimited}); err == nil || !strings.Contains(err.Error(), "ulimit -Hl KiB") {
		t.Errorf("memlock unlimited on an 8M host: %v", err)
	}
	if err := h.Check("x", "core", Ulimit{0, Unlimited}); err != nil {
		t.Errorf("core unlimited on an unlimited host: %v", err)
	}
	capped := h.Cap(DefaultUlimits())
	want := map[string]Ulimit{"nofile": {20000, 20000}, "nproc": {96549, 96549}, "memlock": {8 << 20, 8 << 20}, "core": {0, Unlimited}, "stack": {8 << 20, Unlimited}}
	for n, w := range want {
		if capped[n] != w {
			t.Errorf("capped default %s = %+v, want %+v", n, capped[n], w)
		}
		if err := h.Check("x", n, capped[n]); err != nil {
			t.Errorf("a capped default fails the host check: %v", err)
		}
	}

	// With CAP_SYS_RESOURCE only fs.nr_open caps nofile.
	p := hostUlimits(hard, 1<<20, true)
	if err := p.Check("x", "nofile", Ulimit{65536, 65536}); err != nil {
		t.Errorf("privileged daemon, nofile 65536: %v", err)
	}
	if err := p.Check("x", "nofile", Ulimit{1 << 21, 1 << 21}); err == nil || !strings.Contains(err.Error(), "fs.nr_open") {
		t.Errorf("privileged daemon, nofile past nr_open: %v", err)
	}
	if got := p.Cap(DefaultUlimits())["memlock"]; got != (Ulimit{Unlimited, Unlimited}) {
		t.Errorf("privileged daemon, capped memlock = %+v", got)
	}
}

func TestHasCap(t *testing.T) {
	st := []byte("Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t00000000a80425fb\n")
	if ok, err := hasCap(st, 24); err != nil || ok {
		t.Errorf("hasCap(a80425fb, 24) = %v, %v; want false", ok, err)
	}
	if ok, err := hasCap([]byte("CapEff:\t000001ffffffffff\n"), 24); err != nil || !ok {
		t.Errorf("hasCap(full, 24) = %v, %v; want true", ok, err)
	}
	if _, err := hasCap([]byte("Name: x\n"), 24); err == nil {
		t.Error("hasCap without CapEff succeeded")
	}
}

func TestReadHostUlimits(t *testing.T) {
	h, err := ReadHostUlimits()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range UlimitNames() {
		if h.Max[n] == 0 && n != "core" {
			t.Errorf("host max %s is 0", n)
		}
	}
}
