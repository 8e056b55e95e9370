package engine

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/fatbox/fatbox/inventory"
	"golang.org/x/sys/unix"
)

// cpusetFor picks the CPUs a container is pinned to, so that `nproc` inside
// (which counts the CPU affinity) says its vCPUs: ceil(cpus) of this host's
// CPUs, the least used by the other containers of this node first. 0 cpus
// means no pinning ("").
func (e *Engine) cpusetFor(ctx context.Context, name string, cpus float64) (string, error) {
	if cpus <= 0 {
		return "", nil
	}
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return "", fmt.Errorf("read this host's CPUs: %w", err)
	}
	var online []int
	for i := 0; i < len(set)*64; i++ {
		if set.IsSet(i) {
			online = append(online, i)
		}
	}
	recs, err := e.Inventory.List(ctx)
	if err != nil {
		return "", err
	}
	used := map[int]int{}
	for _, r := range recs {
		if r.Node != e.Node || r.Name == name || r.Status != inventory.StatusRunning {
			continue
		}
		for _, c := range parseCPUList(r.Cpuset) {
			used[c]++
		}
	}
	return formatCPUList(pickCPUs(online, used, int(math.Ceil(cpus)))), nil
}

// hostHasCPUs reports whether every CPU of list is one this process may run on.
func hostHasCPUs(list string) bool {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return false
	}
	cs := parseCPUList(list)
	for _, c := range cs {
		if !set.IsSet(c) {
			return false
		}
	}
	return len(cs) > 0
}

// pickCPUs returns n of online (all of them if n is more), the least used
// first, ties to the lower number, sorted.
func pickCPUs(online []int, used map[int]int, n int) []int {
	c := append([]int(nil), online...)
	sort.SliceStable(c, func(i, j int) bool {
		if used[c[i]] != used[c[j]] {
			return used[c[i]] < used[c[j]]
		}
		return c[i] < c[j]
	})
	if n > len(c) {
		n = len(c)
	}
	c = c[:n]
	sort.Ints(c)
	return c
}

// formatCPUList writes CPUs as a cpuset list: "0-3,6".
func formatCPUList(cs []int) string {
	var parts []string
	for i := 0; i < len(cs); {
		j := i
		for j+1 < len(cs) && cs[j+1] == cs[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, strconv.Itoa(cs[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", cs[i], cs[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// parseCPUList reads a cpuset list; malformed parts are skipped.
func parseCPUList(s string) []int {
	var out []int
	for _, p := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(p), "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				continue
			}
		}
		for i := a; i <= b; i++ {
			out = append(out, i)
		}
	}
	return out
}
