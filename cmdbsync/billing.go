package cmdbsync

// Billing: one usage row per container per period (an hour by default),
// like a VM's on the company's bill.
//
// It lives in package cmdbsync, in files billing*.go, rather than a package
// of its own: it writes to the same kind of database with the same session
// rules (Open), the same versioned migrations (its DDL is numbered from
// 1001 in the same fatbox_schema_migrations table), the same exactly-once
// pattern (the watermark stored in the target in the rows' transaction) and
// the same test hooks, and the import rules already let cmdbsync read the
// inventory. A package beside it would have to export those helpers.
//
// # The policy, figure by figure
//
//   - vcpu_hours: the container's CPU quota (Record.CPUs; VCPUs for a record
//     without one) times the hours it was running in the period.
//   - memory_gib_hours: its memory limit in GiB times the hours it was
//     running in the period. A stopped container bills no CPU or memory.
//   - disk_gib_hours: its disk size in GiB times the hours it existed in the
//     period, running or stopped (its disk is kept while stopped), from its
//     "created" event to its "removed" event.
//   - Each of the three is pro-rated from the event log: the sizes and
//     status after each event are in force until the next event, so a
//     resize in the middle of a period bills each size for its part.
//   - cpu_seconds, net_bytes_in, net_bytes_out: the period's snapshot of the
//     counters' totals minus the previous snapshot (inventory/periods.go).
//   - late: usage nobody sampled when it accrued (the daemon was down) is
//     assigned to the period in which it is first observed, and that row is
//     flagged late: the container's previous sample was before the period
//     and it ran, unsampled, for longer than the allowed gap (LateGap).
//
// A container has a row for a period when it existed for some of it or a
// sample in it saw usage. Rows are rounded to 6 decimals.

import (
	"math"
	"sort"
	"time"

	"github.com/fatbox/fatbox/inventory"
)

// BillingRow is one container's usage in one period.
type BillingRow struct {
	ContainerID    string    `json:"container_id"`
	Name           string    `json:"name"`
	PeriodStart    time.Time `json:"period_start"`
	PeriodEnd      time.Time `json:"period_end"`
	VCPUHours      float64   `json:"vcpu_hours"`
	MemoryGiBHours float64   `json:"memory_gib_hours"`
	DiskGiBHours   float64   `json:"disk_gib_hours"`
	CPUSeconds     float64   `json:"cpu_seconds"`
	NetBytesIn     uint64    `json:"net_bytes_in"`
	NetBytesOut    uint64    `json:"net_bytes_out"`
	Late           bool      `json:"late"`
}

// BillingRules are the computation's parameters.
type BillingRules struct {
	// Period is the length of a period (default 1h); periods are aligned on
	// the Unix epoch.
	Period time.Duration
	// LateGap is how long a container may run unsampled before the usage
	// first observed after that is flagged late (default 5 min).
	LateGap time.Duration
}

func (r BillingRules) withDefaults() BillingRules {
	if r.Period <= 0 {
		r.Period = time.Hour
	}
	if r.LateGap <= 0 {
		r.LateGap = 5 * time.Minute
	}
	return r
}

// segment is a span of a container's life with one state.
type segment struct {
	from, to time.Time // to zero: still so
	running  bool
	cpus     float64
	memMiB   int64
	diskMiB  int64
	name     string
}

// timeline turns one container's events (in order) into segments. Event
// times that go backwards (a clock step) are held at the previous time.
func timeline(evs []inventory.Event) []segment {
	var out []segment
	var last time.Time
	for _, ev := range evs {
		if !ev.Changes() {
			continue
		}
		t := ev.Time
		if t.Before(last) {
			t = last
		}
		last = t
		if n := len(out); n > 0 && out[n-1].to.IsZero() {
			out[n-1].to = t
		}
		if ev.Kind == inventory.EventRemoved {
			continue
		}
		r := ev.Record
		cpus := r.CPUs
		if cpus == 0 {
			cpus = float64(r.VCPUs)
		}
		out = append(out, segment{from: t, running: r.Status == inventory.StatusRunning, cpus: cpus,
			memMiB: r.MemoryMiB, diskMiB: r.DiskMiB, name: r.Name})
	}
	return out
}

func overlap(s segment, from, to time.Time) time.Duration {
	a, b := s.from, s.to
	if b.IsZero() || b.After(to) {
		b = to
	}
	if a.Before(from) {
		a = from
	}
	if !b.After(a) {
		return 0
	}
	return b.Sub(a)
}

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

// ComputeBilling returns the rows of every period that starts in
// [from, to) (from rounded down to a period start), ordered by period and
// container id, from the event log (all of it, in order) and the period
// snapshots (inventory.UsagePeriods). It reads nothing else: the same
// inputs give the same rows.
func ComputeBilling(events []inventory.Event, snaps map[string][]inventory.PeriodSnapshot, from, to time.Time, rules BillingRules) []BillingRow {
	rules = rules.withDefaults()
	byID := map[string][]inventory.Event{}
	for _, ev := range events {
		if ev.ContainerID != "" {
			byID[ev.ContainerID] = append(byID[ev.ContainerID], ev)
		}
	}
	ids := map[string]bool{}
	for id := range byID {
		ids[id] = true
	}
	for id := range snaps {
		ids[id] = true
	}
	var out []BillingRow
	start := inventory.PeriodStart(from, rules.Period)
	for id := range ids {
		segs := timeline(byID[id])
		ps := snaps[id]
		var name string
		for _, ev := range byID[id] {
			if ev.Changes() { // a hook's note carries the name of the event it is about
				name = ev.Name
			}
		}
		for p := start; p.Before(to); p = p.Add(rules.Period) {
			end := p.Add(rules.Period)
			row := BillingRow{ContainerID: id, PeriodStart: p, PeriodEnd: end}
			var existed time.Duration
			for _, s := range segs {
				d := overlap(s, p, end)
				if d <= 0 {
					continue
				}
				existed += d
				h := d.Hours()
				row.DiskGiBHours += float64(s.diskMiB) / 1024 * h
				if s.running {
					row.VCPUHours += s.cpus * h
					row.MemoryGiBHours += float64(s.memMiB) / 1024 * h
				}
				row.Name = s.name
			}
			used := usageIn(ps, segs, p, rules.LateGap, &row)
			if existed <= 0 && !used {
				continue
			}
			if row.Name == "" {
				row.Name = name
			}
			row.VCPUHours, row.MemoryGiBHours, row.DiskGiBHours = round6(row.VCPUHours), round6(row.MemoryGiBHours), round6(row.DiskGiBHours)
			row.CPUSeconds = round6(row.CPUSeconds)
			out = append(out, row)
		}
	}
	sort.Slice(out, func(a, b int) bool {
		if !out[a].PeriodStart.Equal(out[b].PeriodStart) {
			return out[a].PeriodStart.Before(out[b].PeriodStart)
		}
		return out[a].ContainerID < out[b].ContainerID
	})
	return out
}

// usageIn fills row's counters from the snapshot of period p minus the one
// before, and the late flag; it says whether the period saw usage.
func usageIn(ps []inventory.PeriodSnapshot, segs []segment, p time.Time, lateGap time.Duration, row *BillingRow) bool {
	cur := -1
	for i := range ps {
		if ps[i].Start.Equal(p) {
			cur = i
		}
	}
	if cur < 0 {
		return false
	}
	s := ps[cur]
	var prev inventory.PeriodSnapshot
	var prevAt time.Time
	if cur > 0 {
		prev = ps[cur-1]
		prevAt = prev.LastAt
	} else if len(segs) > 0 {
		prevAt = segs[0].from // nothing sampled since it was created
	}
	delta := func(name string) uint64 {
		a, b := s.Total(name), prev.Total(name)
		if a < b {
			return 0
		}
		return a - b
	}
	row.CPUSeconds = float64(delta(inventory.UsageCPUNanos)) / 1e9
	row.NetBytesIn = delta(inventory.UsageNetBytesIn)
	row.NetBytesOut = delta(inventory.UsageNetBytesOut)
	if !prevAt.IsZero() && prevAt.Before(p) {
		var ran time.Duration
		for _, sg := range segs {
			if sg.running {
				ran += overlap(sg, prevAt, s.FirstAt)
			}
		}
		row.Late = ran > lateGap
	}
	return row.CPUSeconds > 0 || row.NetBytesIn > 0 || row.NetBytesOut > 0
}
