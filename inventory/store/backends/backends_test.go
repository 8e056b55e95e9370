package backends

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	for _, raw := range []string{"", "embedded", "bolt://"} {
		s, err := Open(ctx, raw, dir)
		if err != nil || s.Backend() != "bolt" {
			t.Fatalf("Open(%q) = %v, %v", raw, s, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "state.db")); err != nil {
		t.Fatalf("embedded store not at <state dir>/state.db: %v", err)
	}
	for raw, want := range map[string]string{
		"etcd://x:1/":       `unknown store URL "etcd://x:1/": no backend for "etcd://"`,
		"consul":            `unknown store URL "consul"`,
		"bolt://host/x.db":  "bolt URLs have no host",
		"consul://h:1/?x=1": `unknown parameter "x"`,
	} {
		_, err := Open(ctx, raw, dir)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%q) = %v, want %q", raw, err, want)
		}
	}
}
