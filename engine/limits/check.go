package limits

import (
	"fmt"
	"math"
	"strconv"

	units "github.com/docker/go-units"
)

// The rules of each limit. A Check* function refuses what breaks them with
// an *Error wrapping ErrInvalid.
const (
	// MinCPUs is the smallest CPU limit: engine/runtime turns CPUs into a
	// CFS quota per 100 ms period (quota = CPUs × 100000 µs), and the kernel
	// refuses a quota under 1 ms.
	MinCPUs = 0.01
	// MaxCPUs bounds a CPU limit when the host's count is not known (the
	// kernel's largest NR_CPUS); with it the quota never overflows.
	MaxCPUs = 8192

	// MinMemory is the smallest memory limit: below it a fat container's
	// init, sshd and cron do not start reliably.
	MinMemory int64 = 64 * units.MiB
	// MaxMemory is far above any host today; it keeps memory + swap (what
	// runc is given) from overflowing an int64.
	MaxMemory int64 = 64 * units.TiB
	// MaxSwap bounds swap beyond memory for the same reason.
	MaxSwap int64 = 64 * units.TiB

	// MinDisk is the smallest disk, engine/rootfs.MinSize: ext4 with a
	// journal and a base system's inodes works there.
	MinDisk int64 = 64 * units.MiB
	// MaxDisk is ext4's largest file with 4 KiB blocks: a disk is a sparse
	// file on the state filesystem, commonly ext4.
	MaxDisk int64 = 16 * units.TiB

	// MinNetRate is the smallest network rate: tc's token bucket holds at
	// least 128 KiB (engine/network), and below about 4 kbit/s the time to
	// send it overflows the kernel's 32-bit tick count; 64 kbit keeps a
	// 16x margin.
	MinNetRate uint64 = 64e3
	// MaxNetRate is above any NIC's speed; more is a typo.
	MaxNetRate uint64 = 1e12

	// MinIOBytes is the smallest disk bandwidth limit (bytes/s): less is a
	// unit left out ("50" for 50M) or a container that cannot boot.
	MinIOBytes uint64 = 64 * units.KiB
	// MaxIOBytes is above any device's bandwidth (bytes/s); more is a typo.
	MaxIOBytes uint64 = units.TiB
	// MaxIOPS is above any device's operations per second; more is a typo.
	MaxIOPS uint64 = 100e6
)

const cpuFix = "give a number of CPUs like 0.5, 1 or 2"

// CheckCPUs checks a CPU limit (vCPUs, a CFS quota) against hostCPUs, this
// host's CPU count (Host.CPUs). It refuses NaN, ±Inf, zero and negatives
// (a CPU limit is required), less than MinCPUs and more than hostCPUs (or
// MaxCPUs when hostCPUs < 1, i.e. unknown). Any value it accepts gives
// engine/runtime a quota of 1000..819200000 µs, no overflow.
func CheckCPUs(field string, cpus float64, hostCPUs int) error {
	v := fmtFloat(cpus)
	switch {
	case math.IsNaN(cpus):
		return invalid(field, v, "not a number", cpuFix)
	case math.IsInf(cpus, 0):
		return invalid(field, v, "not a finite number", cpuFix)
	case cpus <= 0:
		return invalid(field, v, "not above zero (a CPU limit is required)", cpuFix+", at least "+fmtFloat(MinCPUs))
	case cpus < MinCPUs:
		return invalid(field, v, fmt.Sprintf("less than %s CPU, the smallest CFS quota (1 ms per 100 ms)", fmtFloat(MinCPUs)), "give at least "+fmtFloat(MinCPUs))
	case hostCPUs > 0 && cpus > float64(hostCPUs):
		return invalid(field, v, fmt.Sprintf("more than this host's %d CPUs", hostCPUs), fmt.Sprintf("give at most %d", hostCPUs))
	case cpus > MaxCPUs:
		return invalid(field, v, fmt.Sprintf("more than %d CPUs, the most a Linux host has", MaxCPUs), fmt.Sprintf("give at most %d", MaxCPUs))
	}
	return nil
}

// sizeValue writes a byte count for a message: "66060288 (63 MiB)".
func sizeValue(b int64) string {
	if b > 0 && FormatSize(b) != strconv.FormatInt(b, 10)+" B" {
		return fmt.Sprintf("%d (%s)", b, FormatSize(b))
	}
	return strconv.FormatInt(b, 10)
}

// checkBytes is the shape of CheckMemory, CheckDisk and CheckSwap: at least
// min (if required) and at most max, a whole number of MiB.
func checkBytes(field, what string, b, min, max int64, required bool) error {
	v := sizeValue(b)
	switch {
	case b < 0:
		return invalid(field, v, "negative", fmt.Sprintf("give a %s of at least %s", what, spell(min)))
	case b == 0 && required:
		return invalid(field, v, fmt.Sprintf("zero (a %s is required)", what), fmt.Sprintf("give at least %s", spell(min)))
	case b == 0:
		return nil
	case b < min:
		return invalid(field, v, fmt.Sprintf("below the minimum %s", FormatSize(min)), fmt.Sprintf("give at least %s", spell(min)))
	case b > max:
		return invalid(field, v, fmt.Sprintf("above the maximum %s", FormatSize(max)), fmt.Sprintf("give at most %s", spell(max)))
	case b%units.MiB != 0:
		return invalid(field, v, "not a whole number of MiB (the container's record keeps MiB)", fmt.Sprintf("give %s or %s", mib(b), mib(b+units.MiB)))
	}
	return nil
}

// CheckMemory checks a memory limit in bytes: required, at least MinMemory,
// at most MaxMemory, a whole number of MiB (the record keeps MiB, and
// nothing is rounded away).
func CheckMemory(field string, bytes int64) error {
	return checkBytes(field, "memory limit", bytes, MinMemory, MaxMemory, true)
}

// CheckDisk checks a disk size in bytes: required, at least MinDisk, at
// most MaxDisk, a whole number of MiB (the record keeps MiB exactly; a
// size that is not is refused, never rounded). Whether this host has room
// is Admit's question.
func CheckDisk(field string, bytes int64) error {
	return checkBytes(field, "disk", bytes, MinDisk, MaxDisk, true)
}

// CheckSwap checks swap beyond memory in bytes: 0 means none; otherwise at
// least 1 MiB, at most MaxSwap, a whole number of MiB.
func CheckSwap(field string, bytes int64) error {
	return checkBytes(field, "swap size", bytes, units.MiB, MaxSwap, false)
}

// checkRate is the shape of the rate checks: 0 means unlimited; otherwise
// between min and max.
func checkRate(field string, n, min, max uint64, format func(uint64) string, spell string) error {
	v := strconv.FormatUint(n, 10)
	if n != 0 && format(n) != v {
		v += " (" + format(n) + ")"
	}
	switch {
	case n == 0:
		return nil
	case n < min:
		return invalid(field, v, "below the minimum "+format(min), fmt.Sprintf("give at least %s, or leave it out for unlimited%s", format(min), spell))
	case n > max:
		return invalid(field, v, "above the maximum "+format(max), fmt.Sprintf("give at most %s, or leave it out for unlimited%s", format(max), spell))
	}
	return nil
}

// CheckNetRate checks a network rate limit in bits/s: 0 means unlimited;
// otherwise MinNetRate..MaxNetRate.
func CheckNetRate(field string, bitsPerSec uint64) error {
	return checkRate(field, bitsPerSec, MinNetRate, MaxNetRate, FormatRate, " (a rate is bits/s, e.g. 100mbit)")
}

// CheckIOBytes checks a disk bandwidth limit in bytes/s: 0 means unlimited;
// otherwise MinIOBytes..MaxIOBytes.
func CheckIOBytes(field string, bytesPerSec uint64) error {
	return checkRate(field, bytesPerSec, MinIOBytes, MaxIOBytes, func(n uint64) string {
		if n > math.MaxInt64 {
			return strconv.FormatUint(n, 10) + " B"
		}
		return FormatSize(int64(n)) + "/s"
	}, " (bytes/s, e.g. 50M)")
}

// CheckIOPS checks a disk operations-per-second limit: 0 means unlimited;
// otherwise at most MaxIOPS.
func CheckIOPS(field string, ops uint64) error {
	return checkRate(field, ops, 1, MaxIOPS, func(n uint64) string { return strconv.FormatUint(n, 10) }, "")
}
