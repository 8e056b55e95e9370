package engine

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/fatbox/fatbox/inventory"
)

// ansibleVCPUs is Ansible 2.14's get_cpu_facts (module_utils/facts/hardware/
// linux.py, x86, not Xen) over a cpuinfo: processor_count, processor_cores,
// processor_threads_per_core and processor_vcpus.
func ansibleVCPUs(cpuinfo string) (count, cores, threads, vcpus int) {
	i, vendor, model := 0, 0, 0
	physid, coreid := "0", "0"
	sockets, coresBy := map[string]int{}, map[string]int{}
	var socketOrder, coreOrder []string
	for _, line := range strings.Split(cpuinfo, "\n") {
		k, v, _ := strings.Cut(line, ":")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "model name", "vendor_id", "processor":
			if k == "vendor_id" {
				vendor++
			}
			if k == "model name" {
				model++
			}
			i++
		case "physical id":
			physid = v
			if _, ok := sockets[physid]; !ok {
				sockets[physid] = 1
				socketOrder = append(socketOrder, physid)
			}
		case "core id":
			coreid = v
			if _, ok := sockets[coreid]; !ok { // sic: Ansible checks sockets here
				if _, seen := coresBy[coreid]; !seen {
					coreOrder = append(coreOrder, coreid)
				}
				coresBy[coreid] = 1
			}
		case "cpu cores":
			n, _ := strconv.Atoi(v)
			if _, ok := sockets[physid]; !ok {
				socketOrder = append(socketOrder, physid)
			}
			sockets[physid] = n
		case "siblings":
			n, _ := strconv.Atoi(v)
			if _, ok := coresBy[coreid]; !ok {
				coreOrder = append(coreOrder, coreid)
			}
			coresBy[coreid] = n
		}
	}
	if vendor > 0 && vendor == model {
		i = vendor
	}
	count = i
	if len(sockets) > 0 {
		count = len(sockets)
	}
	cores = 1
	if len(socketOrder) > 0 && sockets[socketOrder[0]] != 0 {
		cores = sockets[socketOrder[0]]
	}
	threads = 1 / cores
	if len(coreOrder) > 0 {
		threads = coresBy[coreOrder[0]] / cores
	}
	return count, cores, threads, threads * count * cores
}

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fieldValues are the values of key in every block, in order.
func fieldValues(cpuinfo, key string) []string {
	var out []string
	for _, l := range strings.Split(cpuinfo, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == key {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

func TestRenderCPUInfo(t *testing.T) {
	for _, c := range []struct {
		file string
		cpus []int
		mhz  []string // the cpu MHz of each block, to show which host CPU it came from
	}{
		{"cpuinfo-2cpu-kvm.txt", []int{0}, nil},
		{"cpuinfo-2cpu-kvm.txt", []int{1}, nil}, // pinned to host CPU 1: still processor 0 inside
		{"cpuinfo-2cpu-kvm.txt", []int{0, 1}, nil},
		{"cpuinfo-4socket.txt", []int{5}, []string{"3205.000"}},
		{"cpuinfo-4socket.txt", []int{2, 9, 13}, []string{"3202.000", "3209.000", "3213.000"}},
		{"cpuinfo-4socket.txt", []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, nil},
		{"cpuinfo-4socket.txt", []int{40}, []string{"3200.000"}}, // a CPU with no block takes the first
	} {
		host := readTestdata(t, c.file)
		got := string(renderCPUInfo([]byte(host), c.cpus))
		n := len(c.cpus)
		name := c.file + " " + strconv.Itoa(n)
		if count, cores, threads, vcpus := ansibleVCPUs(host); vcpus < n && len(c.cpus) <= 16 && c.cpus[0] != 40 {
			t.Errorf("%s: the host sample itself has only %d Ansible vCPUs (%d×%d×%d)", name, vcpus, count, cores, threads)
		}
		if count, cores, threads, vcpus := ansibleVCPUs(got); vcpus != n || count != 1 || cores != n || threads != 1 {
			t.Errorf("%s: Ansible computes %d sockets × %d cores × %d threads = %d vCPUs, want 1×%d×1", name, count, cores, threads, vcpus, n)
		}
		want := func(key string, f func(i int) string) {
			vs := fieldValues(got, key)
			if len(vs) != n {
				t.Errorf("%s: %d %q lines, want %d", name, len(vs), key, n)
				return
			}
			for i, v := range vs {
				if v != f(i) {
					t.Errorf("%s: block %d %q = %q, want %q", name, i, key, v, f(i))
				}
			}
		}
		idx := strconv.Itoa
		want("processor", idx)
		want("core id", idx)
		want("apicid", idx)
		want("initial apicid", idx)
		want("physical id", func(int) string { return "0" })
		want("siblings", func(int) string { return idx(n) })
		want("cpu cores", func(int) string { return idx(n) })
		want("model name", func(int) string { return fieldValues(host, "model name")[0] })
		want("flags", func(int) string { return fieldValues(host, "flags")[0] })
		if c.mhz != nil {
			want("cpu MHz", func(i int) string { return c.mhz[i] })
		}
		// The kernel's layout: each block ends with a blank line, and the
		// lines keep their tabs.
		if !strings.HasSuffix(got, "power management:\n\n") || strings.Count(got, "\n\n") != n {
			t.Errorf("%s: blocks not separated like the kernel's:\n%s", name, got)
		}
		if !strings.Contains(got, "processor\t: 0\n") || !strings.Contains(got, "core id\t\t: 0\n") {
			t.Errorf("%s: the field layout changed:\n%s", name, got[:200])
		}
	}
}

// TestRenderCPUInfoARM: a cpuinfo with no topology fields (arm64) is
// renumbered and cut, nothing added.
func TestRenderCPUInfoARM(t *testing.T) {
	host := "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\n\nprocessor\t: 1\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\n\n" +
		"processor\t: 2\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\n\n"
	got := string(renderCPUInfo([]byte(host), []int{2}))
	if want := "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\n\n"; got != want {
		t.Errorf("arm64 cpuinfo for CPU 2 = %q, want %q", got, want)
	}
}

func TestCPUViewFiles(t *testing.T) {
	e := &Engine{StateDir: t.TempDir()}
	for _, c := range []struct {
		rec  inventory.Record
		list string
	}{
		{inventory.Record{Name: "a", CPUs: 0.5, Cpuset: "1"}, "0\n"},
		{inventory.Record{Name: "a", CPUs: 2, Cpuset: "0-1"}, "0-1\n"},
		{inventory.Record{Name: "a", CPUs: 1.5}, "0-1\n"}, // no cpuset: ceil of the quota
		{inventory.Record{Name: "a", CPUs: 0.25}, "0\n"},
	} {
		lxcfsMounts := []specs.Mount{{Destination: "/proc/meminfo", Source: "/l/proc/meminfo"}, {Destination: "/proc/cpuinfo", Source: "/l/proc/cpuinfo"},
			{Destination: "/sys/devices/system/cpu/online", Source: "/l/sys/devices/system/cpu/online"}}
		var before os.FileInfo
		if fi, err := os.Stat(filepath.Join(e.cpuViewDir("a"), "cpuinfo")); err == nil {
			before = fi
		}
		ms, err := e.cpuViewMounts(c.rec, lxcfsMounts)
		if err != nil {
			t.Fatal(err)
		}
		var dests []string
		for _, m := range ms {
			dests = append(dests, m.Destination)
			if strings.HasPrefix(m.Source, "/l/") && m.Destination != "/proc/meminfo" {
				t.Errorf("lxcfs's bind over %s kept", m.Destination)
			}
		}
		if want := "/proc/meminfo /proc/cpuinfo /sys/devices/system/cpu/online /sys/devices/system/cpu/possible /sys/devices/system/cpu/present"; strings.Join(dests, " ") != want {
			t.Errorf("mounts %v, want %s", dests, want)
		}
		for _, f := range []string{"online", "possible", "present"} {
			b, err := os.ReadFile(filepath.Join(e.cpuViewDir("a"), f))
			if err != nil || string(b) != c.list {
				t.Errorf("%+v: %s = %q %v, want %q", c.rec, f, b, err, c.list)
			}
		}
		b, _ := os.ReadFile(filepath.Join(e.cpuViewDir("a"), "cpuinfo"))
		if got, want := strings.Count(string(b), "processor\t:"), len(viewCPUs(c.rec)); got != want {
			t.Errorf("%+v: cpuinfo has %d processors, want %d", c.rec, got, want)
		}
		// Rewritten in place: the container's bind of the file follows.
		if fi, err := os.Stat(filepath.Join(e.cpuViewDir("a"), "cpuinfo")); err == nil && before != nil && !os.SameFile(before, fi) {
			t.Errorf("%+v: cpuinfo was replaced by a new file, not rewritten in place", c.rec)
		}
	}
}

// A rewrite keeps the inode (the container's bind follows it), leaves the
// new bytes only, and a reader at any instant never sees an empty file
// (as Ansible's fact gathering would, reading cpuinfo while an update
// rewrites it).
func TestRewriteInPlace(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cpuinfo")
	long, short := []byte(strings.Repeat("processor\t: 0\n\n", 64)), []byte("processor\t: 0\n\n")
	if err := rewriteInPlace(p, long); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	empty := make(chan int, 1)
	go func() {
		defer close(empty)
		n := 0
		for {
			select {
			case <-stop:
				empty <- n
				return
			default:
			}
			if b, err := os.ReadFile(p); err == nil && len(b) == 0 {
				n++
			}
		}
	}()
	for i := 0; i < 2000; i++ {
		b := long
		if i%2 == 0 {
			b = short
		}
		if err := rewriteInPlace(p, b); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	if n := <-empty; n > 0 {
		t.Errorf("a reader saw an empty file %d times during the rewrites", n)
	}
	got, err := os.ReadFile(p)
	if err != nil || string(got) != string(long) {
		t.Errorf("after the rewrites: %q %v, want the last content only", got, err)
	}
	if fi, err := os.Stat(p); err != nil || !os.SameFile(before, fi) {
		t.Errorf("the file was replaced, not rewritten in place (%v)", err)
	}
	if err := rewriteInPlace(filepath.Join(t.TempDir(), "none", "x"), short); err == nil {
		t.Error("a write into a missing directory succeeded")
	}
}

// The view is rewritten when the set of CPUs changes, not only its count:
// a cpuset that moved to other host CPUs shows their cpuinfo blocks.
func TestSameCPUs(t *testing.T) {
	for _, c := range []struct {
		a, b inventory.Record
		want bool
	}{
		{inventory.Record{Cpuset: "0-1"}, inventory.Record{Cpuset: "0-1"}, true},
		{inventory.Record{Cpuset: "0-1"}, inventory.Record{Cpuset: "2-3"}, false},
		{inventory.Record{Cpuset: "0-1"}, inventory.Record{Cpuset: "0-2"}, false},
		{inventory.Record{CPUs: 1.5}, inventory.Record{CPUs: 2}, true},
		{inventory.Record{CPUs: 1.5}, inventory.Record{Cpuset: "1-2", CPUs: 2}, false},
	} {
		if got := sameCPUs(c.a, c.b); got != c.want {
			t.Errorf("sameCPUs(%q/%v, %q/%v) = %v", c.a.Cpuset, c.a.CPUs, c.b.Cpuset, c.b.CPUs, got)
		}
	}
}
