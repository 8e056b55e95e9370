package engine

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/fatbox/fatbox/inventory"
)

// The CPU view: a container's vCPUs are N = ceil(--cpus), and everything
// that counts CPUs inside says N, as on a VM with N vCPUs:
//
//   - nproc (sched_getaffinity): the cpuset is N host CPUs (cpuset.go);
//   - /proc/cpuinfo: a file the engine writes per container from the host's
//     own, the blocks of the cpuset's host CPUs renumbered 0..N-1, with
//     physical id 0, siblings and cpu cores N, core id, apicid and initial
//     apicid 0..N-1 (one socket of N cores, one thread each), so Ansible's
//     processor_vcpus (sockets × cores × threads) and lscpu agree;
//   - /sys/devices/system/cpu/{online,possible,present}: "0-(N-1)" (or "0");
//   - /proc/stat: lxcfs's, which with --enable-cfs shows ceil(quota) CPUs.
//
// A fractional quota is a whole vCPU whose time is capped: --cpus 0.5 is
// one vCPU that gets 50 ms of CPU time per 100 ms (the CFS quota), as a VM
// whose one vCPU is throttled by its hypervisor; 1.5 is two vCPUs sharing
// 150 ms per 100 ms.
//
// The files live in <state>/containers/<name>/cpuview/ and are bound
// read-only over those paths, in place of lxcfs's cpuinfo and cpu/online
// (engine/lxcfs's remount leaves a target alone that something other than
// lxcfs covers). `fatbox update --cpus` rewrites them in place (same inode,
// so the binds show the new content at once) when the set of CPUs changes
// (its count, or the host CPUs of a cpuset that moved): new bytes written
// over the old, then the file cut to their length, so a reader at that
// instant sees old or new content (or, in a longer file, the new bytes
// followed by the old tail), never an empty file.

// cpuViewFiles are the files of the view, by name, and where they are bound.
func cpuViewFiles() []struct{ name, target string } {
	return []struct{ name, target string }{
		{"cpuinfo", "/proc/cpuinfo"},
		{"online", "/sys/devices/system/cpu/online"},
		{"possible", "/sys/devices/system/cpu/possible"},
		{"present", "/sys/devices/system/cpu/present"},
	}
}

func (e *Engine) cpuViewDir(name string) string { return filepath.Join(e.dir(name), "cpuview") }

// viewCPUs are the host CPUs a record's view shows: its cpuset's, or
// 0..ceil(CPUs)-1 without one.
func viewCPUs(rec inventory.Record) []int {
	if cs := parseCPUList(rec.Cpuset); len(cs) > 0 {
		return cs
	}
	n := max(int(math.Ceil(rec.CPUs)), 1)
	cs := make([]int, n)
	for i := range cs {
		cs[i] = i
	}
	return cs
}

// writeCPUView writes (or rewrites in place) the view's files for rec.
func (e *Engine) writeCPUView(rec inventory.Record) error {
	host, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return fmt.Errorf("CPU view of %q: read the host's cpuinfo: %w", rec.Name, err)
	}
	cpus := viewCPUs(rec)
	dir := e.cpuViewDir(rec.InstanceKey())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("CPU view of %q: %w", rec.Name, err)
	}
	list := cpuRange(len(cpus))
	content := map[string][]byte{"cpuinfo": renderCPUInfo(host, cpus), "online": list, "possible": list, "present": list}
	for _, f := range cpuViewFiles() {
		if err := rewriteInPlace(filepath.Join(dir, f.name), content[f.name]); err != nil {
			return fmt.Errorf("CPU view of %q: %w", rec.Name, err)
		}
	}
	return nil
}

// rewriteInPlace writes b over the file at p (made if missing) and cuts it
// to len(b): the inode, and so a container's bind of it, stays, and a
// reader at any instant sees the old bytes, the new ones, or a mix of the
// two, never an empty file (O_TRUNC would empty it first).
func rewriteInPlace(p string, b []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(b, 0)
	if err == nil {
		err = f.Truncate(int64(len(b)))
	}
	return errors.Join(err, f.Close())
}

// sameCPUs reports whether two views show the same host CPUs, in order.
func sameCPUs(a, b inventory.Record) bool {
	return slices.Equal(viewCPUs(a), viewCPUs(b))
}

// cpuViewMounts writes rec's view and returns extra (lxcfs's binds)
// without those over the view's targets, followed by the view's binds.
func (e *Engine) cpuViewMounts(rec inventory.Record, extra []specs.Mount) ([]specs.Mount, error) {
	if err := e.writeCPUView(rec); err != nil {
		return nil, err
	}
	ours := map[string]bool{}
	for _, f := range cpuViewFiles() {
		ours[f.target] = true
	}
	var out []specs.Mount
	for _, m := range extra {
		if !ours[m.Destination] {
			out = append(out, m)
		}
	}
	for _, f := range cpuViewFiles() {
		out = append(out, specs.Mount{Destination: f.target, Type: "bind", Source: filepath.Join(e.cpuViewDir(rec.InstanceKey()), f.name),
			Options: []string{"bind", "ro", "nosuid", "nodev", "noexec"}})
	}
	return out, nil
}

// cpuRange is the sysfs list of CPUs 0..n-1: "0\n" or "0-3\n".
func cpuRange(n int) []byte {
	if n <= 1 {
		return []byte("0\n")
	}
	return []byte(fmt.Sprintf("0-%d\n", n-1))
}

// renderCPUInfo is host (a /proc/cpuinfo) as a VM with len(cpus) vCPUs
// sees it: the blocks of the host CPUs in cpus (by their processor
// number; a CPU with no block takes the first one), renumbered 0..N-1,
// as one socket of N single-thread cores. Only the fields a block has are
// rewritten (ARM's cpuinfo has no physical id or cpu cores).
func renderCPUInfo(host []byte, cpus []int) []byte {
	blocks := cpuInfoBlocks(host)
	byNum := map[int][][]byte{}
	var first [][]byte // the first processor's block
	for _, b := range blocks {
		for _, l := range b {
			if k, v, ok := cpuInfoField(l); ok && k == "processor" {
				if n, err := strconv.Atoi(v); err == nil {
					byNum[n] = b
					if first == nil {
						first = b
					}
				}
				break
			}
		}
	}
	n := strconv.Itoa(len(cpus))
	var out bytes.Buffer
	for i, c := range cpus {
		b, ok := byNum[c]
		if !ok {
			b = first
		}
		id := strconv.Itoa(i)
		set := map[string]string{"processor": id, "physical id": "0", "siblings": n, "core id": id, "cpu cores": n, "apicid": id, "initial apicid": id}
		for _, l := range b {
			if k, _, ok := cpuInfoField(l); ok {
				if v, ok := set[k]; ok {
					colon := bytes.IndexByte(l, ':')
					out.Write(l[:colon+1])
					out.WriteString(" " + v + "\n")
					continue
				}
			}
			out.Write(l)
			out.WriteByte('\n')
		}
		out.WriteByte('\n')
	}
	return out.Bytes()
}

// cpuInfoBlocks splits a cpuinfo into its per-processor blocks of lines
// (without newlines); blank lines separate them. A header before the
// first "processor" line (s390x, some ARM) stays a block of its own.
func cpuInfoBlocks(b []byte) [][][]byte {
	var blocks [][][]byte
	var cur [][]byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(l)) == 0 {
			if len(cur) > 0 {
				blocks = append(blocks, cur)
				cur = nil
			}
			continue
		}
		cur = append(cur, l)
	}
	if len(cur) > 0 {
		blocks = append(blocks, cur)
	}
	return blocks
}

// cpuInfoField reads "key\t: value" into its trimmed key and value.
func cpuInfoField(l []byte) (string, string, bool) {
	k, v, ok := bytes.Cut(l, []byte(":"))
	if !ok {
		return "", "", false
	}
	return string(bytes.TrimSpace(k)), string(bytes.TrimSpace(v)), true
}
