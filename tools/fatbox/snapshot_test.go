package main

import (
	"strings"
	"testing"
)

// The snapshot's line says how long the container was frozen and what the
// copy cost, against the disk's size.
func TestSnapshotCreateSays(t *testing.T) {
	f := newFakeDaemon(t)
	out, _, err := run(f.sock, "snapshot", "create", "web-01", "before")
	if err != nil {
		t.Fatal(err)
	}
	if want := "snapshot before of web-01: froze web-01 for 84 ms, copied 23.0 MiB of a 10.0 GiB disk"; !strings.Contains(out, want) {
		t.Errorf("printed %q, want %q", out, want)
	}
	if r := f.last(t); r.Method != "POST" || r.Path != "/v1/containers/web-01/snapshots" || r.Body != `{"name":"before"}` {
		t.Errorf("request %+v", r)
	}
	if _, _, err := run(f.sock, "snapshot", "create", "web-01"); err != nil {
		t.Fatal(err)
	}
	if r := f.last(t); r.Body != `{}` {
		t.Errorf("no name: sent %q, want the daemon to name it", r.Body)
	}
	if _, _, err := run(f.sock, "commit", "web-01"); err == nil || !strings.Contains(err.Error(), "--image NEWNAME") {
		t.Errorf("commit without --image: %v", err)
	}
	for _, c := range []struct {
		n    int64
		want string
	}{{0, "0 B"}, {1536, "1.5 KiB"}, {23 << 20, "23.0 MiB"}, {10 << 30, "10.0 GiB"}} {
		if got := approxBytes(c.n); got != c.want {
			t.Errorf("approxBytes(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}
