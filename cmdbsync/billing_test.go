package cmdbsync

import (
	"math"
	"testing"
	"time"

	"github.com/fatbox/fatbox/inventory"
)

var bt0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// at is bt0 plus h hours and m minutes.
func at(h, m int) time.Time {
	return bt0.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
}

func ev(seq uint64, t time.Time, kind, id, status string, cpus float64, memMiB, diskMiB int64) inventory.Event {
	return inventory.Event{Seq: seq, Time: t, Kind: kind, ContainerID: id, Name: "c-" + id,
		Record: inventory.Record{ID: id, Name: "c-" + id, Status: status, CPUs: cpus, MemoryMiB: memMiB, DiskMiB: diskMiB}}
}

func snap(id string, period time.Time, first, last time.Time, cpuSec float64, in, out uint64) inventory.PeriodSnapshot {
	return inventory.PeriodSnapshot{ContainerID: id, Start: period, PeriodSeconds: 3600, FirstAt: first, LastAt: last,
		Totals: map[string]uint64{inventory.UsageCPUNanos: uint64(cpuSec * 1e9), inventory.UsageNetBytesIn: in, inventory.UsageNetBytesOut: out}}
}

// TestComputeBilling: each case's expected rows are worked out by hand in
// its comment, not by the code under test.
func TestComputeBilling(t *testing.T) {
	const R, S = inventory.StatusRunning, inventory.StatusStopped
	cases := []struct {
		name   string
		events []inventory.Event
		snaps  map[string][]inventory.PeriodSnapshot
		want   []BillingRow
	}{{
		// created 10:15 at 2 CPUs/2 GiB/10 GiB; resized 10:45 to 4 CPUs/4 GiB;
		// stopped 11:30; removed 12:20.
		// 10h: 0.5h*2 + 0.25h*4 = 2 vCPU-h; mem the same in GiB = 2; disk 0.75h*10 = 7.5
		// 11h: 0.5h*4 = 2; mem 2; disk 10
		// 12h: stopped: 0, 0; disk 20min*10 GiB = 3.333333
		// 13h: nothing (removed)
		name: "resize, stop, remove",
		events: []inventory.Event{
			ev(1, at(0, 15), inventory.EventCreated, "a", R, 2, 2048, 10240),
			ev(2, at(0, 45), inventory.EventResized, "a", R, 4, 4096, 10240),
			ev(3, at(1, 30), inventory.EventStopped, "a", S, 4, 4096, 10240),
			ev(4, at(2, 20), inventory.EventRemoved, "a", S, 4, 4096, 10240),
		},
		// samples: 30 s of CPU by 10:59, 90 s by 11:29 (its final reading)
		snaps: map[string][]inventory.PeriodSnapshot{"a": {
			snap("a", at(0, 0), at(0, 16), at(0, 59), 30, 1000, 500),
			snap("a", at(1, 0), at(1, 0), at(1, 29), 90, 1500, 700),
		}},
		want: []BillingRow{
			{ContainerID: "a", Name: "c-a", PeriodStart: at(0, 0), VCPUHours: 2, MemoryGiBHours: 2, DiskGiBHours: 7.5, CPUSeconds: 30, NetBytesIn: 1000, NetBytesOut: 500},
			{ContainerID: "a", Name: "c-a", PeriodStart: at(1, 0), VCPUHours: 2, MemoryGiBHours: 2, DiskGiBHours: 10, CPUSeconds: 60, NetBytesIn: 500, NetBytesOut: 200},
			{ContainerID: "a", Name: "c-a", PeriodStart: at(2, 0), DiskGiBHours: 3.333333},
		},
	}, {
		// Half a CPU and 512 MiB running the whole of 10h and 11h; 1 GiB disk.
		// No samples at all: no usage, never late.
		name: "fractional",
		events: []inventory.Event{
			ev(1, at(-1, 30), inventory.EventCreated, "b", R, 0.5, 512, 1024),
		},
		want: []BillingRow{
			{ContainerID: "b", Name: "c-b", PeriodStart: at(0, 0), VCPUHours: 0.5, MemoryGiBHours: 0.5, DiskGiBHours: 1},
			{ContainerID: "b", Name: "c-b", PeriodStart: at(1, 0), VCPUHours: 0.5, MemoryGiBHours: 0.5, DiskGiBHours: 1},
			{ContainerID: "b", Name: "c-b", PeriodStart: at(2, 0), VCPUHours: 0.5, MemoryGiBHours: 0.5, DiskGiBHours: 1},
			{ContainerID: "b", Name: "c-b", PeriodStart: at(3, 0), VCPUHours: 0.5, MemoryGiBHours: 0.5, DiskGiBHours: 1},
		},
	}, {
		// Created 9:58 (first sample 10:00: on time), running throughout; the daemon was down from 10:50 to 12:10: the
		// last sample before is 10:50 (10 s CPU), the first after 12:10
		// (70 s). 11h has no usage; 12h gets 60 s and is late (it ran 80 min
		// unsampled, over the 5 min gap); 13h is on time again.
		name: "daemon down",
		events: []inventory.Event{
			ev(1, at(-1, 58), inventory.EventCreated, "c", R, 1, 1024, 2048),
		},
		snaps: map[string][]inventory.PeriodSnapshot{"c": {
			snap("c", at(0, 0), at(0, 0), at(0, 50), 10, 0, 0),
			snap("c", at(2, 0), at(2, 10), at(2, 59), 70, 100, 0),
			snap("c", at(3, 0), at(3, 0), at(3, 59), 75, 100, 0),
		}},
		want: []BillingRow{
			{ContainerID: "c", Name: "c-c", PeriodStart: at(0, 0), VCPUHours: 1, MemoryGiBHours: 1, DiskGiBHours: 2, CPUSeconds: 10},
			{ContainerID: "c", Name: "c-c", PeriodStart: at(1, 0), VCPUHours: 1, MemoryGiBHours: 1, DiskGiBHours: 2},
			{ContainerID: "c", Name: "c-c", PeriodStart: at(2, 0), VCPUHours: 1, MemoryGiBHours: 1, DiskGiBHours: 2, CPUSeconds: 60, NetBytesIn: 100, Late: true},
			{ContainerID: "c", Name: "c-c", PeriodStart: at(3, 0), VCPUHours: 1, MemoryGiBHours: 1, DiskGiBHours: 2, CPUSeconds: 5},
		},
	}, {
		// Stopped at 10:30 (final reading 10:29, 20 s), started 12:05, first
		// sample 12:06 (25 s): the gap is long but it ran only 1 min of it
		// unsampled: not late. Created 10:00 (first sample 10:01: on time).
		// 10h: 0.5h running; 11h stopped; 12h 55 min; 13h all of it.
		// disk 4 GiB throughout.
		name: "stopped, not late",
		events: []inventory.Event{
			ev(1, at(0, 0), inventory.EventCreated, "d", R, 2, 1024, 4096),
			ev(2, at(0, 30), inventory.EventStopped, "d", S, 2, 1024, 4096),
			ev(3, at(2, 5), inventory.EventStarted, "d", R, 2, 1024, 4096),
		},
		snaps: map[string][]inventory.PeriodSnapshot{"d": {
			snap("d", at(0, 0), at(0, 1), at(0, 29), 20, 0, 0),
			snap("d", at(2, 0), at(2, 6), at(2, 6), 25, 0, 0),
		}},
		want: []BillingRow{
			{ContainerID: "d", Name: "c-d", PeriodStart: at(0, 0), VCPUHours: 1, MemoryGiBHours: 0.5, DiskGiBHours: 4, CPUSeconds: 20},
			{ContainerID: "d", Name: "c-d", PeriodStart: at(1, 0), DiskGiBHours: 4},
			{ContainerID: "d", Name: "c-d", PeriodStart: at(2, 0), VCPUHours: 2 * 55.0 / 60, MemoryGiBHours: 55.0 / 60, DiskGiBHours: 4, CPUSeconds: 5},
			{ContainerID: "d", Name: "c-d", PeriodStart: at(3, 0), VCPUHours: 2, MemoryGiBHours: 1, DiskGiBHours: 4},
		},
	}, {
		// The clock stepped back: the resize is stamped 10:20, before the
		// 10:40 create. It is held at 10:40, so 10h bills 20 min at the new
		// size (3 CPUs): 1 vCPU-h; 1 GiB disk for 20 min.
		name: "clock step",
		events: []inventory.Event{
			ev(1, at(0, 40), inventory.EventCreated, "e", R, 1, 1024, 1024),
			ev(2, at(0, 20), inventory.EventResized, "e", R, 3, 1024, 1024),
			ev(3, at(0, 59), inventory.EventRemoved, "e", R, 3, 1024, 1024),
		},
		want: []BillingRow{
			{ContainerID: "e", Name: "c-e", PeriodStart: at(0, 0), VCPUHours: 3 * 19.0 / 60, MemoryGiBHours: 19.0 / 60, DiskGiBHours: 19.0 / 60},
		},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := ComputeBilling(c.events, c.snaps, at(0, 0), at(4, 0), BillingRules{Period: time.Hour})
			if len(got) != len(c.want) {
				t.Fatalf("got %d rows, want %d:\n%+v", len(got), len(c.want), got)
			}
			for i, w := range c.want {
				g := got[i]
				w.PeriodEnd = w.PeriodStart.Add(time.Hour)
				near := func(a, b float64) bool { return math.Abs(a-b) < 1e-6 }
				if g.ContainerID != w.ContainerID || g.Name != w.Name || !g.PeriodStart.Equal(w.PeriodStart) || !g.PeriodEnd.Equal(w.PeriodEnd) ||
					!near(g.VCPUHours, w.VCPUHours) || !near(g.MemoryGiBHours, w.MemoryGiBHours) || !near(g.DiskGiBHours, w.DiskGiBHours) ||
					!near(g.CPUSeconds, w.CPUSeconds) || g.NetBytesIn != w.NetBytesIn || g.NetBytesOut != w.NetBytesOut || g.Late != w.Late {
					t.Errorf("row %d:\n got %+v\nwant %+v", i, g, w)
				}
			}
		})
	}
}
