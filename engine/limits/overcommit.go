package limits

import (
	"errors"
	"fmt"
	"math"

	units "github.com/docker/go-units"
)

// The overcommit defaults and cap; see the package doc for why.
const (
	DefaultCPUOvercommit    = 4.0
	DefaultMemoryOvercommit = 1.5
	DefaultDiskOvercommit   = 4.0
	// MaxMemoryOvercommit caps Overcommit.Memory: past it a few busy
	// containers take the host into the OOM killer.
	MaxMemoryOvercommit = 4.0
)

// configFile is where the daemon reads overcommit from (engine/daemon's
// DefaultConfigFile; this package imports nothing of fatbox).
const configFile = "/etc/fatbox/fatbox.yaml"

// quotaUnits is how finely CPUs are summed: the CFS quota's 1 µs per 100 ms
// period, 1e-5 CPU. Sums in these integer units are exact at the ceiling.
const quotaUnits = 1e5

// maxUsageCPUs bounds Usage.CPUs so that its sum in quotaUnits fits an
// int64 with room to spare (a million containers of MaxCPUs is 8.2e9).
const maxUsageCPUs = 1e12

// Overcommit is how far this node promises more than it has, per resource:
// the sum of the limits of its containers may reach Ratio × the host's
// amount. The daemon's config embeds it as
//
//	overcommit: {cpu: 4, memory: 1.5, disk: 4}
//
// Decode the YAML over DefaultOvercommit(), so a key left out keeps its
// default; a zero ratio is refused by Validate.
type Overcommit struct {
	CPU    float64 `yaml:"cpu" json:"cpu"`       // × host CPUs, for the sum of CPU limits
	Memory float64 `yaml:"memory" json:"memory"` // × host memory, for the sum of memory limits
	Disk   float64 `yaml:"disk" json:"disk"`     // × the state filesystem's size, for the sum of disk sizes
}

// DefaultOvercommit is cpu 4, memory 1.5, disk 4.
func DefaultOvercommit() Overcommit {
	return Overcommit{CPU: DefaultCPUOvercommit, Memory: DefaultMemoryOvercommit, Disk: DefaultDiskOvercommit}
}

// Validate refuses a ratio that is not a finite number above zero, and a
// memory ratio above MaxMemoryOvercommit. Its errors wrap ErrInvalid and
// name the key (overcommit.cpu, overcommit.memory, overcommit.disk).
func (o Overcommit) Validate() error {
	var errs []error
	for _, r := range []struct {
		key         string
		v, def, max float64 // max 0: no cap
		maxWhy      string
	}{
		{"cpu", o.CPU, DefaultCPUOvercommit, 0, ""},
		{"memory", o.Memory, DefaultMemoryOvercommit, MaxMemoryOvercommit, " (past it a few busy containers take the host into the OOM killer)"},
		{"disk", o.Disk, DefaultDiskOvercommit, 0, ""},
	} {
		field := "overcommit." + r.key
		fix := fmt.Sprintf("set %s in %s to a ratio like %s (the default)", field, configFile, fmtFloat(r.def))
		switch {
		case math.IsNaN(r.v) || math.IsInf(r.v, 0):
			errs = append(errs, invalid(field, fmtFloat(r.v), "not a finite number", fix))
		case r.v <= 0:
			errs = append(errs, invalid(field, fmtFloat(r.v), "not above zero", fix))
		case r.max > 0 && r.v > r.max:
			errs = append(errs, invalid(field, fmtFloat(r.v), "above the cap "+fmtFloat(r.max)+r.maxWhy, fmt.Sprintf("set %s in %s to at most %s", field, configFile, fmtFloat(r.max))))
		}
	}
	return errors.Join(errs...)
}

// Host is what this node has. ReadHost reads it.
type Host struct {
	CPUs        int   // CPUs this process may run on (runtime.NumCPU)
	MemoryBytes int64 // MemTotal
	DiskBytes   int64 // size of the filesystem holding the state dir
}

// Usage is what this node's containers hold: sums over them of their CPU
// and memory limits and disk sizes, and how many there are.
type Usage struct {
	CPUs        float64
	MemoryBytes int64
	DiskBytes   int64
	Containers  int
}

// Figure is one resource's use against its ceiling, for `fatbox status`.
// Unit is "CPUs" or "bytes"; Used and Ceiling are in it.
type Figure struct {
	Name    string  `json:"name"` // "cpu", "memory", "disk"
	Used    float64 `json:"used"`
	Ceiling float64 `json:"ceiling"`
	Unit    string  `json:"unit"`
}

// String reads "cpu: 7.5 of 8 CPUs (94%)" or "memory: 24.0 GiB of 36.0 GiB (67%)".
func (f Figure) String() string {
	var used, ceiling string
	if f.Unit == "bytes" {
		used, ceiling = approxSize(f.Used), approxSize(f.Ceiling)
	} else {
		used, ceiling = fmtFloat(f.Used), fmtFloat(f.Ceiling)+" "+f.Unit
	}
	pct := ""
	if f.Ceiling > 0 {
		pct = fmt.Sprintf(" (%.0f%%)", 100*f.Used/f.Ceiling)
	}
	return fmt.Sprintf("%s: %s of %s%s", f.Name, used, ceiling, pct)
}

// ceilings are o's ceilings on h: CPUs in quotaUnits, bytes rounded down.
type ceilings struct{ cpu, memory, disk int64 }

func (o Overcommit) ceilings(h Host) ceilings {
	return ceilings{
		cpu:    int64(math.Floor(o.CPU*float64(h.CPUs)*quotaUnits + 1e-6)),
		memory: floorInt64(o.Memory * float64(h.MemoryBytes)),
		disk:   floorInt64(o.Disk * float64(h.DiskBytes)),
	}
}

func floorInt64(f float64) int64 {
	if f >= math.MaxInt64 { // float64(MaxInt64) is 2^63
		return math.MaxInt64
	}
	return int64(math.Floor(f))
}

// addInt64 is a + b for non-negative a and b, saturating at MaxInt64.
func addInt64(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func cpuUnits(cpus float64) int64 { return int64(math.Round(cpus * quotaUnits)) }

func fmtUnits(q int64) string { return fmtFloat(float64(q) / quotaUnits) }

// Figures are cpu, memory and disk on h: used by u, against o's ceiling.
func (o Overcommit) Figures(h Host, u Usage) []Figure {
	c := o.ceilings(h)
	return []Figure{
		{Name: "cpu", Used: float64(cpuUnits(u.CPUs)) / quotaUnits, Ceiling: float64(c.cpu) / quotaUnits, Unit: "CPUs"},
		{Name: "memory", Used: float64(u.MemoryBytes), Ceiling: float64(c.memory), Unit: "bytes"},
		{Name: "disk", Used: float64(u.DiskBytes), Ceiling: float64(c.disk), Unit: "bytes"},
	}
}

func (h Host) check() error {
	if h.CPUs < 1 || h.MemoryBytes <= 0 || h.DiskBytes <= 0 {
		return fmt.Errorf("host figures unknown (%d CPUs, memory %d bytes, state filesystem %d bytes): read them with limits.ReadHost", h.CPUs, h.MemoryBytes, h.DiskBytes)
	}
	return nil
}

func (u Usage) check() error {
	if !(u.CPUs >= 0) || u.CPUs > maxUsageCPUs || u.MemoryBytes < 0 || u.DiskBytes < 0 || u.Containers < 0 {
		return fmt.Errorf("usage figures invalid (%v CPUs, memory %d bytes, disk %d bytes, %d containers): sum the node's container records", u.CPUs, u.MemoryBytes, u.DiskBytes, u.Containers)
	}
	return nil
}

func containers(n int) string {
	if n == 1 {
		return "1 container"
	}
	return fmt.Sprintf("%d containers", n)
}

// Admit says whether a container with cpus, mem and disk fits on h next to
// u: each sum may reach its ceiling (ratio × host) but not pass it, and a
// disk may not be larger than the state filesystem itself (it could never
// be filled: a sparse file cannot outgrow the filesystem it lives on). Its
// refusals wrap ErrOvercommit, one per resource over (joined), and give
// the figures and the fix. Check the values themselves first (CheckCPUs,
// CheckMemory, CheckDisk): Admit takes them as valid. An invalid o, h, u or
// ask is the caller's bug and gets a plain error wrapping no sentinel.
func (o Overcommit) Admit(h Host, u Usage, cpus float64, mem, disk int64) error {
	if err := o.Validate(); err != nil {
		return fmt.Errorf("the daemon's overcommit settings are invalid (%v): fix them in %s", err, configFile)
	}
	if err := h.check(); err != nil {
		return err
	}
	if err := u.check(); err != nil {
		return err
	}
	if !(cpus >= 0) || math.IsInf(cpus, 0) || cpus > MaxCPUs || mem < 0 || disk < 0 {
		return fmt.Errorf("asked %v CPUs, memory %d bytes, disk %d bytes: run CheckCPUs, CheckMemory and CheckDisk before Admit", cpus, mem, disk)
	}
	c := o.ceilings(h)
	var errs []error

	usedQ, askQ := cpuUnits(u.CPUs), cpuUnits(cpus)
	if usedQ+askQ > c.cpu {
		rule := fmt.Sprintf("%s CPUs in use (%s) + %s asked = %s, over the ceiling %s (%s x %d host CPUs)",
			fmtUnits(usedQ), containers(u.Containers), fmtUnits(askQ), fmtUnits(usedQ+askQ), fmtUnits(c.cpu), fmtFloat(o.CPU), h.CPUs)
		errs = append(errs, overcommit("cpu", rule, leftFix(c.cpu-usedQ >= cpuUnits(MinCPUs), "at most "+fmtUnits(c.cpu-usedQ)+" CPUs", "cpu")))
	}

	if total := addInt64(u.MemoryBytes, mem); total > c.memory {
		totalS, ceilS := approxPair(total, c.memory)
		rule := fmt.Sprintf("%s of limits in use (%s) + %s asked = %s, over the ceiling %s (%s x %s host memory)",
			approxSize(float64(u.MemoryBytes)), containers(u.Containers), FormatSize(mem), totalS, ceilS, fmtFloat(o.Memory), approxSize(float64(h.MemoryBytes)))
		left := (c.memory - u.MemoryBytes) / units.MiB * units.MiB
		errs = append(errs, overcommit("memory", rule, leftFix(left >= MinMemory, "at most "+FormatSize(left), "memory")))
	}

	if disk > h.DiskBytes {
		fs := h.DiskBytes / units.MiB * units.MiB
		rule := fmt.Sprintf("%s asked is more than the whole state filesystem (%s) could ever hold", FormatSize(disk), approxSize(float64(h.DiskBytes)))
		errs = append(errs, overcommit("disk", rule, "give a disk of at most "+FormatSize(fs)))
	} else if total := addInt64(u.DiskBytes, disk); total > c.disk {
		totalS, ceilS := approxPair(total, c.disk)
		rule := fmt.Sprintf("%s of disks in use (%s) + %s asked = %s, over the ceiling %s (%s x %s state filesystem)",
			approxSize(float64(u.DiskBytes)), containers(u.Containers), FormatSize(disk), totalS, ceilS, fmtFloat(o.Disk), approxSize(float64(h.DiskBytes)))
		left := (c.disk - u.DiskBytes) / units.MiB * units.MiB
		errs = append(errs, overcommit("disk", rule, leftFix(left >= MinDisk, "at most "+FormatSize(left), "disk")))
	}
	return errors.Join(errs...)
}

// leftFix is the fix of an Admit refusal: ask for what is left if that is a
// valid ask, remove containers, or raise overcommit.KEY.
func leftFix(someLeft bool, atMost, key string) string {
	raise := fmt.Sprintf("remove containers, or raise overcommit.%s in %s", key, configFile)
	if someLeft {
		return "ask for " + atMost + ", " + raise
	}
	return "nothing is left to ask for: " + raise
}
