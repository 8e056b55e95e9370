package engine

import (
	"errors"
	"strings"
	"testing"

	"github.com/fatbox/fatbox/inventory"
)

func TestCheckSyslog(t *testing.T) {
	s := func(v string) *string { return &v }
	rec := inventory.Record{Syslog: "tcp://10.0.0.5:514"}
	for _, c := range []struct {
		in   *string
		want string
	}{{nil, "tcp://10.0.0.5:514"}, {s("none"), ""}, {s(""), ""}, {s("UDP://Logs:1514"), "udp://logs:1514"}} {
		next := rec
		if err := checkSyslog(&next, c.in); err != nil || next.Syslog != c.want {
			t.Errorf("checkSyslog(%v) = %q, %v; want %q", c.in, next.Syslog, err, c.want)
		}
	}
	next := rec
	err := checkSyslog(&next, s("tcp://10.0.0.5"))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "--syslog none") || next.Syslog != rec.Syslog {
		t.Errorf("bad URL: %v (record %q)", err, next.Syslog)
	}
}
