package limits

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ReadHost reads this host's figures: the CPUs this process may run on
// (runtime.NumCPU, the same affinity engine's cpuset choice picks from),
// MemTotal from /proc/meminfo, and the size of the filesystem holding
// stateDir (statfs). It is this package's only I/O.
func ReadHost(stateDir string) (Host, error) {
	h := Host{CPUs: runtime.NumCPU()}
	mem, err := memTotal("/proc/meminfo")
	if err != nil {
		return Host{}, err
	}
	h.MemoryBytes = mem
	var st unix.Statfs_t
	if err := unix.Statfs(stateDir, &st); err != nil {
		return Host{}, fmt.Errorf("size of the state filesystem: statfs %q: %w: create the state dir (--state-dir) first", stateDir, err)
	}
	bsize := st.Frsize
	if bsize <= 0 {
		bsize = st.Bsize
	}
	h.DiskBytes = int64(st.Blocks) * bsize
	if h.DiskBytes <= 0 {
		return Host{}, fmt.Errorf("size of the state filesystem: statfs %q says %d blocks of %d bytes: put the state dir on a real filesystem", stateDir, st.Blocks, bsize)
	}
	return h, nil
}

// memTotal reads MemTotal (in kB, i.e. KiB) from a meminfo file.
func memTotal(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("host memory: %w", err)
	}
	return parseMemTotal(path, b)
}

func parseMemTotal(path string, b []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[0] != "MemTotal:" || f[2] != "kB" {
			continue
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil || kb <= 0 || kb > 1<<50 {
			return 0, fmt.Errorf("host memory: %s: MemTotal %q is not a size in kB: is /proc mounted?", path, f[1])
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("host memory: %s has no \"MemTotal: N kB\" line: is /proc mounted?", path)
}
