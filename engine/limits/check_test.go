package limits

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/fatbox/fatbox/engine/rootfs"
)

// wantErr checks err against want: "" for nil, else a part of the message
// of an *Error wrapping ErrInvalid.
func wantErr(t *testing.T, what string, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Errorf("%s: %v, want nil", what, err)
		}
		return
	}
	var e *Error
	if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, ErrInvalid) || errors.Is(err, ErrOvercommit) || !errors.As(err, &e) || e.Fix == "" {
		t.Errorf("%s: %v, want an ErrInvalid *Error with %q", what, err, want)
	}
}

func TestCheckCPUs(t *testing.T) {
	for _, c := range []struct {
		cpus float64
		host int
		err  string
	}{
		{0, 2, "--cpus 0: not above zero (a CPU limit is required): give a number of CPUs like 0.5, 1 or 2, at least 0.01"},
		{-1, 2, "--cpus -1: not above zero"},
		{1000, 2, "--cpus 1000: more than this host's 2 CPUs: give at most 2"},
		{math.NaN(), 2, "--cpus NaN: not a number"},
		{1e19, 2, "--cpus 1e+19: more than this host's 2 CPUs: give at most 2"},
		{1e19, 0, "--cpus 1e+19: more than 8192 CPUs, the most a Linux host has: give at most 8192"},
		{math.Inf(1), 2, "--cpus +Inf: not a finite number"},
		{math.Inf(-1), 2, "--cpus -Inf: not a finite number"},
		{0.001, 2, "--cpus 0.001: less than 0.01 CPU, the smallest CFS quota (1 ms per 100 ms): give at least 0.01"},
		{0.0099999, 2, "less than 0.01 CPU"},
		{2.01, 2, "more than this host's 2 CPUs"},
		{0.01, 2, ""},
		{0.5, 2, ""},
		{1, 2, ""},
		{1.337, 2, ""},
		{2, 2, ""},
		{8192, 0, ""},
		{8192, 10000, ""},
		{8192.5, 10000, "more than 8192 CPUs"},
	} {
		err := CheckCPUs("--cpus", c.cpus, c.host)
		wantErr(t, "CheckCPUs("+fmtFloat(c.cpus)+")", err, c.err)
		if err == nil {
			// engine/runtime/spec.go: quota := int64(l.CPUs * float64(period)), period 100000 µs;
			// the kernel wants 1000 µs <= quota.
			if q := int64(c.cpus * 100000); q < 1000 || q > 819200000 {
				t.Errorf("CheckCPUs accepted %v, whose quota %d is out of 1000..819200000", c.cpus, q)
			}
		}
	}
}

func TestCheckMemory(t *testing.T) {
	for _, c := range []struct {
		bytes int64
		err   string
	}{
		{0, "memory_bytes 0: zero (a memory limit is required): give at least 64M"},
		{-1, "memory_bytes -1: negative"},
		{1, "memory_bytes 1: below the minimum 64 MiB: give at least 64M"},
		{63 << 20, "memory_bytes 66060288 (63 MiB): below the minimum 64 MiB: give at least 64M"},
		{64<<20 - 1, "below the minimum 64 MiB"},
		{64 << 20, ""},
		{MinMemory, ""},
		{1 << 30, ""},
		{1e9, "memory_bytes 1000000000 (976562.5 KiB): not a whole number of MiB (the container's record keeps MiB): give 953M or 954M"},
		{MaxMemory, ""},
		{MaxMemory + 1<<20, "above the maximum 64 TiB: give at most 64T"},
		{math.MaxInt64, "above the maximum"},
	} {
		wantErr(t, "CheckMemory("+FormatSize(c.bytes)+")", CheckMemory("memory_bytes", c.bytes), c.err)
	}
}

func TestCheckDisk(t *testing.T) {
	if MinDisk != rootfs.MinSize {
		t.Errorf("MinDisk %d is not engine/rootfs.MinSize %d", MinDisk, rootfs.MinSize)
	}
	for _, c := range []struct {
		bytes int64
		err   string
	}{
		{0, "--disk 0: zero (a disk is required): give at least 64M"},
		{-5, "negative"},
		{32 << 20, "--disk 33554432 (32 MiB): below the minimum 64 MiB: give at least 64M"},
		{64 << 20, ""},
		{10 << 30, ""},
		{10<<30 + 1, "--disk 10737418241: not a whole number of MiB (the container's record keeps MiB): give 10240M or 10241M"},
		{3 << 29, ""},
		{16 << 40, ""},
		{16<<40 + 1<<20, "above the maximum 16 TiB: give at most 16T"},
	} {
		wantErr(t, "CheckDisk("+FormatSize(c.bytes)+")", CheckDisk("--disk", c.bytes), c.err)
	}
}

func TestCheckSwap(t *testing.T) {
	for _, c := range []struct {
		bytes int64
		err   string
	}{
		{0, ""},
		{1 << 20, ""},
		{512 << 20, ""},
		{-1, "--swap -1: negative"},
		{1000, "below the minimum 1 MiB"},
		{1<<30 + 512, "not a whole number of MiB"},
		{MaxSwap, ""},
		{MaxSwap + 1<<20, "above the maximum 64 TiB"},
	} {
		wantErr(t, "CheckSwap("+FormatSize(c.bytes)+")", CheckSwap("--swap", c.bytes), c.err)
	}
	// What runc is given, memory + swap, stays inside int64.
	if MaxMemory > math.MaxInt64-MaxSwap {
		t.Errorf("MaxMemory + MaxSwap overflows int64")
	}
}

func TestCheckRates(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"net 0 is unlimited", CheckNetRate("--net-rate", 0), ""},
		{"net 64kbit", CheckNetRate("--net-rate", 64e3), ""},
		{"net 100mbit", CheckNetRate("--net-rate", 100e6), ""},
		{"net 1tbit", CheckNetRate("--net-rate", 1e12), ""},
		{"net 1000bit", CheckNetRate("net_rate_bits", 1000), "net_rate_bits 1000 (1kbit): below the minimum 64kbit: give at least 64kbit, or leave it out for unlimited (a rate is bits/s, e.g. 100mbit)"},
		{"net 2tbit", CheckNetRate("--net-rate", 2e12), "above the maximum 1tbit"},
		{"io 0 is unlimited", CheckIOBytes("--disk-read-bps", 0), ""},
		{"io 50M", CheckIOBytes("--disk-read-bps", 50<<20), ""},
		{"io 50", CheckIOBytes("disk_read_bps", 50), "disk_read_bps 50 (50 B/s): below the minimum 64 KiB/s: give at least 64 KiB/s, or leave it out for unlimited (bytes/s, e.g. 50M)"},
		{"io 2T", CheckIOBytes("--disk-write-bps", 2<<40), "above the maximum 1 TiB/s"},
		{"io max uint64", CheckIOBytes("--disk-write-bps", math.MaxUint64), "above the maximum"},
		{"iops 0 is unlimited", CheckIOPS("--disk-read-iops", 0), ""},
		{"iops 1", CheckIOPS("--disk-read-iops", 1), ""},
		{"iops 100M", CheckIOPS("--disk-read-iops", 100e6), ""},
		{"iops past", CheckIOPS("--disk-read-iops", 100e6+1), "--disk-read-iops 100000001: above the maximum 100000000"},
	} {
		wantErr(t, c.name, c.err, c.want)
	}
}
