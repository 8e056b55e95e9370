// Command prober measures how long an address stops answering: it opens a
// TCP connection to -addr every -interval (each attempt bounded by
// -timeout), and when it gets SIGTERM or SIGINT (or -for ends) it prints
// the longest time between two successful connects, as JSON on one line:
//
//	{"longest_gap_ms":38.2,"ok":1412,"failed":3,"first_ok":true}
//
// The release tests run it inside a network namespace on the containers'
// bridge, as a client of the name's address would be, while a release or a
// rollback switches the address from one container to another. It prints
// "ready" on stderr after its first successful connect.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "", "host:port to connect to")
	interval := flag.Duration("interval", 10*time.Millisecond, "time between attempts")
	timeout := flag.Duration("timeout", 100*time.Millisecond, "bound on one attempt")
	dur := flag.Duration("for", 10*time.Minute, "stop after this long")
	flag.Parse()
	if *addr == "" {
		fmt.Fprintln(os.Stderr, "prober: -addr host:port is required")
		os.Exit(2)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	deadline := time.After(*dur)
	var last time.Time
	var longest time.Duration
	var ok, failed int
	down := false // the last attempt failed
	tick := time.NewTicker(*interval)
	defer tick.Stop()
	for {
		c, err := net.DialTimeout("tcp", *addr, *timeout)
		now := time.Now()
		if err == nil {
			c.Close()
			if ok == 0 {
				fmt.Fprintln(os.Stderr, "ready")
			} else if g := now.Sub(last); g > longest {
				longest = g
			}
			last = now
			ok++
			down = false
		} else {
			failed++
			down = true
		}
		select {
		case <-stop:
		case <-deadline:
		case <-tick.C:
			continue
		}
		break
	}
	// A run that ends while the address does not answer counts that gap too.
	if ok > 0 && down {
		if g := time.Since(last); g > longest {
			longest = g
		}
	}
	_ = json.NewEncoder(os.Stdout).Encode(map[string]any{"longest_gap_ms": float64(longest.Microseconds()) / 1000, "ok": ok, "failed": failed, "first_ok": ok > 0})
}
