package main

import (
	"strings"
	"testing"

	"github.com/fatbox/fatbox/engine/api"
)

func TestParseUlimitFlags(t *testing.T) {
	got, err := parseUlimits([]string{"nofile=1024:65536", "memlock=unlimited", "core=0"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]api.Ulimit{"nofile": {Soft: 1024, Hard: 65536}, "memlock": {Soft: 1<<64 - 1, Hard: 1<<64 - 1}, "core": {}}
	if len(got) != len(want) {
		t.Fatalf("parseUlimits = %+v, want %+v", got, want)
	}
	for n, w := range want {
		if got[n] != w {
			t.Errorf("%s = %+v, want %+v", n, got[n], w)
		}
	}
	if s := ulimitsText(got); s != "nofile=1024:65536 memlock=unlimited core=0" {
		t.Errorf("ulimitsText = %q", s)
	}
	for _, c := range []struct {
		in  []string
		err string
	}{
		{[]string{"nofile=1024", "nofile=2048"}, "nofile is given twice"},
		{[]string{"nofiles=1"}, `unknown limit "nofiles"`},
		{[]string{"nofile=9:8"}, "soft limit is above the hard limit"},
	} {
		if _, err := parseUlimits(c.in); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("parseUlimits(%q) = %v, want %q", c.in, err, c.err)
		}
	}
	if got, err := parseUlimits(nil); got != nil || err != nil {
		t.Errorf("parseUlimits(nil) = %v, %v", got, err)
	}
	req, err := updateRequest(updateFlags{ulimits: []string{"nofile=4096"}}, func(string) bool { return false })
	if err != nil || req.Ulimits["nofile"] != (api.Ulimit{Soft: 4096, Hard: 4096}) {
		t.Errorf("update --ulimit alone: %+v %v", req.Ulimits, err)
	}
}
