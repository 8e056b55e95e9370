package harness

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHostStateDiff(t *testing.T) {
	a := HostState{Links: []string{"br0", "fb1 alias fatbox:web-01"}, NFT: []string{"}", "}"}, Outputs: map[string]string{"ls": "[]"}}
	b := HostState{Links: []string{"br0", "fb2 alias fatbox:web-02"}, NFT: []string{"}"}, Outputs: map[string]string{"ls": "[x]"}}
	got := strings.Join(b.Diff(a), "\n")
	for _, want := range []string{"link added: fb2 alias fatbox:web-02", "link gone: fb1 alias fatbox:web-01", "nftables line gone: }", "ls changed"} {
		if !strings.Contains(got, want) {
			t.Errorf("diff lacks %q:\n%s", want, got)
		}
	}
	if d := a.Diff(a); len(d) != 0 {
		t.Errorf("a state differs from itself: %v", d)
	}
}

// TestHostStateSeesLeftovers: a watched veth and a state dir entry made
// after the first reading show in the comparison; unwatched ones do not.
func TestHostStateSeesLeftovers(t *testing.T) {
	RequireRoot(t)
	dir := t.TempDir()
	watched, other := Name("fbhw"), Name("fbho")
	opts := HostStateOptions{StateDir: dir, Dirs: []string{filepath.Join(dir, "containers")}, Watch: []string{watched}}
	before := TakeHostState(t, opts)
	IP(t, "link", "add", watched, "type", "veth", "peer", "name", other)
	t.Cleanup(func() { IPQuiet("link", "del", watched) })
	os.MkdirAll(filepath.Join(dir, "containers", "web-01"), 0o755)
	got := strings.Join(TakeHostState(t, opts).Diff(before), "\n")
	for _, want := range []string{"link added: " + watched, "state dir entry added: " + filepath.Join(dir, "containers", "web-01")} {
		if !strings.Contains(got, want) {
			t.Errorf("diff lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, other) {
		t.Errorf("diff shows the unwatched link %s:\n%s", other, got)
	}
}
