// Command ipamfill measures allocation cost while filling a pool, for
// test/bench/ipam.sh. Modes:
//
//	-mode inproc     fatbox's ipam in this process, on -store
//	-mode cli        `fatbox ip allocate` per allocation, against a running daemon (-fatbox, -socket)
//	-mode hostlocal  CNI's host-local plugin exec'd once per allocation, as runtimes call it
//
// It allocates names bench-<i> for i in [-from, -n) and prints one line:
// mode, count, allocations/s, mean ms per allocation over the first and the
// last -window allocations, and their ratio (last/first).
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"time"

	"github.com/fatbox/fatbox/inventory/store/backends"
	"github.com/fatbox/fatbox/ipam"
)

func main() {
	mode := flag.String("mode", "inproc", "inproc, cli or hostlocal")
	storeURL := flag.String("store", "", "store URL (inproc)")
	cidr := flag.String("cidr", "198.18.0.0/16", "pool network")
	n := flag.Int("n", 65533, "allocate names up to this index")
	from := flag.Int("from", 0, "first name index (earlier ones are assumed allocated)")
	window := flag.Int("window", 1000, "size of the first/last windows")
	create := flag.Bool("create-pool", true, "create the pool (inproc)")
	fatboxBin := flag.String("fatbox", "bin/fatbox", "fatbox binary (cli)")
	socket := flag.String("socket", "", "daemon socket (cli)")
	plugin := flag.String("plugin", "/usr/lib/cni/host-local", "host-local binary (hostlocal)")
	dataDir := flag.String("datadir", "", "host-local data dir (hostlocal)")
	label := flag.String("label", "", "label printed first")
	flag.Parse()
	ctx := context.Background()

	var alloc func(name string, i int) error
	switch *mode {
	case "inproc":
		s, err := backends.Open(ctx, *storeURL, os.TempDir())
		must(err)
		a := &ipam.Allocator{Store: s, Host: "bench"}
		pf := netip.MustParsePrefix(*cidr)
		if *create {
			_, err := a.CreatePool(ctx, ipam.Pool{Name: "bench", CIDR: pf, Gateway: pf.Addr().Next(), Bridge: "fbbench"})
			must(err)
		}
		alloc = func(name string, _ int) error { _, err := a.Allocate(ctx, "bench", name); return err }
	case "cli":
		alloc = func(name string, _ int) error {
			out, err := exec.Command(*fatboxBin, "ip", "allocate", name, "--pool", "bench", "--socket", *socket).CombinedOutput()
			if err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			return nil
		}
	case "hostlocal":
		conf := fmt.Sprintf(`{"cniVersion":"0.4.0","name":"bench","type":"bridge","ipam":{"type":"host-local","subnet":%q,"dataDir":%q}}`, *cidr, *dataDir)
		alloc = func(name string, i int) error {
			cmd := exec.Command(*plugin)
			cmd.Env = []string{"CNI_COMMAND=ADD", "CNI_CONTAINERID=" + name, "CNI_NETNS=/var/run/netns/none",
				"CNI_IFNAME=eth0", "CNI_PATH=/usr/lib/cni"}
			cmd.Stdin = bytes.NewBufferString(conf)
			out, err := cmd.CombinedOutput()
			if err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			return nil
		}
	default:
		must(fmt.Errorf("unknown -mode %q", *mode))
	}
	total := *n - *from
	w := min(*window, total/2)
	var first, last time.Duration
	start := time.Now()
	for i := *from; i < *n; i++ {
		t0 := time.Now()
		if err := alloc(fmt.Sprintf("bench-%d", i), i); err != nil {
			must(fmt.Errorf("allocation %d: %w", i, err))
		}
		d := time.Since(t0)
		if i-*from < w {
			first += d
		}
		if *n-i <= w {
			last += d
		}
	}
	el := time.Since(start)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(w) }
	fmt.Printf("%-34s n=%-6d %8.0f allocs/s   first %d: %6.3f ms   last %d: %6.3f ms   last/first %.2f\n",
		*label, total, float64(total)/el.Seconds(), w, ms(first), w, ms(last), float64(last)/float64(first))
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "ipamfill:", err)
		os.Exit(1)
	}
}
