package main

import (
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	stream := `{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestA","Output":"x\n"}
{"Action":"pass","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestB","Output":"    missing prerequisite: consul\n"}
{"Action":"skip","Package":"p","Test":"TestB"}
{"Action":"output","Package":"p","Output":"ok  \tp\t0.1s\n"}
{"Action":"pass","Package":"p"}
`
	var b strings.Builder
	if code := run(strings.NewReader(stream), &b, false); code != 0 {
		t.Fatalf("lenient run: exit %d\n%s", code, b.String())
	}
	if !strings.Contains(b.String(), "ok  \tp\t0.1s") || !strings.Contains(b.String(), "1 passed, 0 failed, 1 skipped, 0 not run on this host") {
		t.Fatalf("report:\n%s", b.String())
	}
	b.Reset()
	if code := run(strings.NewReader(stream), &b, true); code == 0 {
		t.Fatalf("strict run with a skip passed:\n%s", b.String())
	}
	fail := `{"Action":"output","Package":"p","Test":"TestC","Output":"boom\n"}
{"Action":"fail","Package":"p","Test":"TestC"}
{"Action":"fail","Package":"p"}
`
	b.Reset()
	if code := run(strings.NewReader(fail), &b, false); code == 0 || !strings.Contains(b.String(), "boom") {
		t.Fatalf("failing stream: exit %d\n%s", code, b.String())
	}
}

// A test ended with harness.NotRun is counted apart, listed with its
// reason, and fails neither the lenient nor the strict run; it is never
// counted as passed.
func TestNotRunOnThisHost(t *testing.T) {
	stream := `{"Action":"run","Package":"p","Test":"TestVLAN"}
{"Action":"output","Package":"p","Test":"TestVLAN","Output":"    net_test.go:9: FATBOX-NOT-RUN: this kernel has no 802.1Q (8021q): the tagged path runs on a kernel with it\n"}
{"Action":"skip","Package":"p","Test":"TestVLAN"}
{"Action":"pass","Package":"p","Test":"TestA"}
{"Action":"pass","Package":"p"}
`
	for _, strict := range []bool{false, true} {
		var b strings.Builder
		if code := run(strings.NewReader(stream), &b, strict); code != 0 {
			t.Fatalf("strict=%v: exit %d\n%s", strict, code, b.String())
		}
		out := b.String()
		if !strings.Contains(out, "NOT RUN p TestVLAN: this kernel has no 802.1Q") || !strings.Contains(out, "1 passed, 0 failed, 0 skipped, 1 not run on this host") {
			t.Fatalf("strict=%v: report:\n%s", strict, out)
		}
	}
}
