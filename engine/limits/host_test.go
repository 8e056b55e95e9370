package limits

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestReadHost reads this machine, loosely: any real host has a CPU, more
// memory than a container's minimum, and a state filesystem of some size.
func TestReadHost(t *testing.T) {
	h, err := ReadHost(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if h.CPUs != runtime.NumCPU() || h.CPUs < 1 {
		t.Errorf("CPUs %d, want runtime.NumCPU() %d", h.CPUs, runtime.NumCPU())
	}
	if h.MemoryBytes < MinMemory || h.MemoryBytes%1024 != 0 {
		t.Errorf("MemoryBytes %d: want at least %d, whole KiB", h.MemoryBytes, MinMemory)
	}
	if h.DiskBytes <= 0 {
		t.Errorf("DiskBytes %d", h.DiskBytes)
	}
	if err := h.check(); err != nil {
		t.Error(err)
	}
	t.Logf("this host: %d CPUs, %s memory, %s state filesystem", h.CPUs, FormatSize(h.MemoryBytes), FormatSize(h.DiskBytes))

	_, err = ReadHost(filepath.Join(t.TempDir(), "absent"))
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "create the state dir") {
		t.Errorf("ReadHost of an absent dir: %v, want ErrNotExist and the fix", err)
	}
}

func TestParseMemTotal(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		err  string
	}{
		{"MemTotal:       24731184 kB\nMemFree:  1 kB\n", 24731184 << 10, ""},
		{"MemFree:  1 kB\nMemTotal: 1024 kB\n", 1 << 20, ""},
		{"MemFree:  1 kB\n", 0, `has no "MemTotal: N kB" line`},
		{"MemTotal: x kB\n", 0, `MemTotal "x" is not a size in kB`},
		{"MemTotal: -5 kB\n", 0, `MemTotal "-5" is not a size in kB`},
		{"", 0, "has no"},
	} {
		got, err := parseMemTotal("meminfo", []byte(c.in))
		if c.err == "" && (err != nil || got != c.want) || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("parseMemTotal(%q) = %d, %v; want %d, %q", c.in, got, err, c.want, c.err)
		}
	}
}
