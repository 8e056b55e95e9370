package main

import (
	"strings"
	"testing"
)

// --syslog on pool create, create and update: checked before asking the
// daemon, stored canonical; update takes "none" and refuses "".
func TestSyslogFlags(t *testing.T) {
	p, err := poolFromFlags("prod", poolFlags{cidr: "198.18.0.0/24", syslog: "TCP://10.0.0.5:514"}, false)
	if err != nil || p.Syslog != "tcp://10.0.0.5:514" {
		t.Fatalf("pool --syslog: %q, %v", p.Syslog, err)
	}
	if _, err := poolFromFlags("prod", poolFlags{cidr: "198.18.0.0/24", syslog: "10.0.0.5:514"}, false); err == nil ||
		!strings.Contains(err.Error(), "--syslog") || !strings.Contains(err.Error(), "tcp://HOST:PORT") {
		t.Fatalf("pool --syslog without scheme: %v", err)
	}
	req, err := createRequest("web-01", createFlags{cpus: 1, memory: "1G", disk: "10G", syslog: "udp://logs.example:1514"})
	if err != nil || req.Syslog != "udp://logs.example:1514" {
		t.Fatalf("create --syslog: %q, %v", req.Syslog, err)
	}
	if _, err := createRequest("web-01", createFlags{cpus: 1, memory: "1G", disk: "10G", syslog: "tcp://logs.example"}); err == nil || !strings.Contains(err.Error(), "port is required") {
		t.Fatalf("create --syslog without port: %v", err)
	}
	changed := func(s string) bool { return s == "syslog" }
	for in, want := range map[string]string{"none": "none", "tcp://[2001:db8::5]:514": "tcp://[2001:db8::5]:514"} {
		u, err := updateRequest(updateFlags{syslog: in}, changed)
		if err != nil || u.Syslog == nil || *u.Syslog != want {
			t.Fatalf("update --syslog %s: %v, %v", in, u.Syslog, err)
		}
	}
	for _, in := range []string{"", "udp://x:0"} {
		if _, err := updateRequest(updateFlags{syslog: in}, changed); err == nil || !strings.Contains(err.Error(), "none") {
			t.Fatalf("update --syslog %q: %v; want an error naming none", in, err)
		}
	}
}
