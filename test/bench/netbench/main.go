// Command netbench is the Go half of test/bench/net.sh: it attaches network
// namespaces to a bridge through engine/network, and sends or receives one
// TCP stream (iperf3 is not installed on the test hosts).
//
//	netbench attach -container C -netns PATH -bridge B -addr 198.19.19.2/24 [-create-bridge]
//	netbench detach -container C
//	netbench recv -listen IP:PORT        # prints the received rate in bit/s
//	netbench send -to IP:PORT -seconds 3
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/fatbox/fatbox/engine/network"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: netbench attach|detach|recv|send [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	container := fs.String("container", "", "container name")
	nsPath := fs.String("netns", "", "netns path")
	bridge := fs.String("bridge", "", "bridge")
	create := fs.Bool("create-bridge", false, "create the bridge if missing")
	addr := fs.String("addr", "", "container address with prefix length")
	listen := fs.String("listen", "", "recv: address to listen on")
	to := fs.String("to", "", "send: address to send to")
	secs := fs.Float64("seconds", 3, "send: how long")
	_ = fs.Parse(os.Args[2:])
	ctx := context.Background()
	var err error
	switch os.Args[1] {
	case "attach":
		var p netip.Prefix
		if p, err = netip.ParsePrefix(*addr); err == nil {
			_, err = network.Attach(ctx, network.Config{Container: *container, Netns: *nsPath, Bridge: *bridge,
				CreateBridge: *create, Addr: p, Announce: true})
		}
	case "detach":
		err = network.Detach(ctx, *container)
	case "recv":
		err = recv(*listen)
	case "send":
		err = send(*to, time.Duration(*secs*float64(time.Second)))
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "netbench:", err)
		os.Exit(1)
	}
}

func recv(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	defer l.Close()
	c, err := l.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 256<<10)
	var n int64
	var start time.Time
	for {
		k, err := c.Read(buf)
		if k > 0 && start.IsZero() {
			start = time.Now()
		}
		n += int64(k)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	d := time.Since(start).Seconds()
	fmt.Printf("%.0f\n", float64(n*8)/d)
	return nil
}

func send(addr string, d time.Duration) error {
	var c net.Conn
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err = net.Dial("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		return err
	}
	buf := make([]byte, 128<<10)
	for end := time.Now().Add(d); time.Now().Before(end); {
		if _, err := c.Write(buf); err != nil {
			return err
		}
	}
	return c.Close()
}
