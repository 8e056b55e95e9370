package discovery

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fatbox/fatbox/test/e2e/e2ekit"
	"github.com/fatbox/fatbox/test/harness"
	"github.com/vishvananda/netns"
)

// syslogMsg is one RFC 5424 message as a collector parses it.
type syslogMsg struct {
	pri, hostname, app, msg string
	raw                     string
}

// rfc5424 is the header RSYSLOG_SyslogProtocol23Format writes:
// <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG.
var rfc5424 = regexp.MustCompile(`^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|\[.*?\]) ?(.*)$`)

func parse5424(raw string) (syslogMsg, bool) {
	m := rfc5424.FindStringSubmatch(strings.TrimRight(raw, "\n"))
	if m == nil {
		return syslogMsg{raw: raw}, false
	}
	if _, err := time.Parse(time.RFC3339Nano, m[2]); err != nil {
		return syslogMsg{raw: raw}, false
	}
	return syslogMsg{pri: m[1], hostname: m[3], app: m[4], msg: strings.TrimSpace(m[8]), raw: raw}, true
}

// collector gathers what a test syslog collector received.
type collector struct {
	mu   sync.Mutex
	msgs []syslogMsg
	bad  []string
}

func (c *collector) add(raw string) {
	m, ok := parse5424(raw)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !ok {
		c.bad = append(c.bad, raw)
		return
	}
	c.msgs = append(c.msgs, m)
}

// find waits for a message holding text.
func (c *collector) find(t *testing.T, within time.Duration, text string) syslogMsg {
	t.Helper()
	var got syslogMsg
	e2ekit.WaitFor(t, within, fmt.Sprintf("a syslog message %q at the collector", text), func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, m := range c.msgs {
			if strings.Contains(m.msg, text) {
				got = m
				return true
			}
		}
		return false
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.bad) > 0 {
		t.Errorf("frames that are not RFC 5424: %q", c.bad)
	}
	return got
}

// tcpCollector listens on addr in network namespace ns and reads RFC 6587
// octet-counted frames (LEN SP MSG), as a company's collector would over TCP.
func tcpCollector(t *testing.T, ns, addr string) *collector {
	var ln net.Listener
	inNetns(t, ns, func() (err error) { ln, err = net.Listen("tcp", addr); return err })
	c := &collector{}
	var wg sync.WaitGroup
	var conns sync.Map
	t.Cleanup(func() {
		ln.Close()
		conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Store(conn, true)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				r := bufio.NewReader(conn)
				for {
					n, err := r.ReadString(' ')
					if err != nil {
						return
					}
					size, err := strconv.Atoi(strings.TrimSpace(n))
					if err != nil || size <= 0 || size > 64<<10 {
						c.add("bad frame length " + strconv.Quote(n))
						return
					}
					buf := make([]byte, size)
					if _, err := io.ReadFull(r, buf); err != nil {
						return
					}
					c.add(string(buf))
				}
			}()
		}
	}()
	return c
}

// udpCollector takes one RFC 5424 message per datagram (RFC 5426), on
// addr in network namespace ns.
func udpCollector(t *testing.T, ns, addr string) *collector {
	var pc net.PacketConn
	inNetns(t, ns, func() (err error) { pc, err = net.ListenPacket("udp", addr); return err })
	c := &collector{}
	done := make(chan struct{})
	t.Cleanup(func() { pc.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			c.add(string(buf[:n]))
		}
	}()
	return c
}

// inNetns runs listen on a thread in network namespace ns (a socket
// belongs to the namespace it was made in, wherever it is used later), and
// puts the thread back.
func inNetns(t *testing.T, ns string, listen func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			done <- err
			return
		}
		defer orig.Close()
		target, err := netns.GetFromName(ns)
		if err != nil {
			done <- err
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			done <- err
			return
		}
		err = listen()
		if serr := netns.Set(orig); serr != nil {
			done <- errors.Join(err, serr) // the thread stays locked and dies with its goroutine
			return
		}
		runtime.UnlockOSThread()
		done <- err
	}()
	if err := <-done; err != nil {
		t.Fatalf("collector in netns %s: %v", ns, err)
	}
}

func nonce(t *testing.T) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// TestLogForwarding: a container's syslog reaches a company collector (a
// listener in a network namespace on the pools' bridges, as another
// machine on the segment) the way a VM's rsyslog would send it, the image
// untouched: over TCP with
// octet-counted frames (the collector down at first: the queue keeps the
// message until it is up), and over UDP set at run time on a second
// container (`fatbox update --syslog`, rsyslog restarted inside); RFC 5424
// with the container's hostname and the app name; `--syslog none` removes
// the drop-in.
func TestLogForwarding(t *testing.T) {
	t.Parallel()
	e := e2ekit.NewEnv(t, "198.19.175.0/24")
	const gw = "198.19.175.1"

	// A bad collector URL is refused with the fix, at create and pool create.
	if r := e2ekit.Fatbox(t, "create", "log-bad", "--image", "debian12-fat", "--pool", "vm", "--syslog", "http://"+gw+":514", "--socket", e.Sock); r.Code == 0 ||
		!strings.Contains(r.Stderr, "tcp://HOST:PORT") {
		t.Fatalf("create --syslog http://: exit %d: %s", r.Code, r.Stderr)
	}
	if r := e2ekit.Fatbox(t, "pool", "create", "logp", "--cidr", "198.19.176.0/24", "--bridge", "fblogbad", "--syslog", "tcp://"+gw, "--socket", e.Sock); r.Code == 0 ||
		!strings.Contains(r.Stderr, "port is required") {
		t.Fatalf("pool create --syslog without port: exit %d: %s", r.Code, r.Stderr)
	}

	// The collector is another machine on the segment: a network namespace
	// with a leg on each pool's bridge (.250), its listeners made in it.
	const tcpPort, udpPort = 6514, 5514
	const coll, coll2 = "198.19.175.250", "198.19.176.250"
	br := harness.Name("fblog")
	t.Cleanup(func() { harness.IPQuiet("link", "del", br) })
	e.OK("pool", "create", "logp", "--cidr", "198.19.176.0/24", "--bridge", br, "--create-bridge", "--syslog", fmt.Sprintf("tcp://%s:%d", coll2, tcpPort))
	t.Cleanup(func() { e2ekit.Fatbox(t, "pool", "rm", "logp", "--force", "--socket", e.Sock) })
	if out := e.OK("pool", "show", "logp").Stdout; !strings.Contains(out, fmt.Sprintf("tcp://%s:%d", coll2, tcpPort)) {
		t.Fatalf("pool show logp: no syslog:\n%s", out)
	}
	e.RemoveAtEnd(t, "log-01", "log-02", "log-03")
	var wg sync.WaitGroup
	var ip1, ip2 string
	wg.Add(3)
	go func() {
		defer wg.Done()
		e.OK("create", "log-03", "--image", "debian12-fat", "--pool", "logp", "--ssh-key", e.Key+".pub")
	}()
	go func() {
		defer wg.Done()
		e.OK("create", "log-01", "--image", "debian12-fat", "--pool", "vm", "--ssh-key", e.Key+".pub", "--syslog", fmt.Sprintf("tcp://%s:%d", coll, tcpPort))
	}()
	go func() {
		defer wg.Done()
		e.OK("create", "log-02", "--image", "debian12-fat", "--pool", "vm", "--ssh-key", e.Key+".pub")
	}()
	wg.Wait()
	ip1, ip2 = e.Inspect("log-01").IP, e.Inspect("log-02").IP
	// The bridges exist once their pool's first container does: now the
	// collector's machine joins both segments (its listeners come later).
	ns := e.ClientNetns(t, coll+"/24")
	host2, peer2 := harness.Name("fblh"), harness.Name("fblp")
	harness.IP(t, "link", "add", host2, "type", "veth", "peer", "name", peer2)
	t.Cleanup(func() { harness.IPQuiet("link", "del", host2) })
	harness.IP(t, "link", "set", peer2, "netns", ns)
	harness.IP(t, "link", "set", host2, "master", br, "up")
	harness.IP(t, "-n", ns, "addr", "add", coll2+"/24", "dev", peer2)
	harness.IP(t, "-n", ns, "link", "set", peer2, "up")
	if got := e.Inspect("log-01").Syslog; got != fmt.Sprintf("tcp://%s:%d", coll, tcpPort) {
		t.Fatalf("log-01's record says syslog %q", got)
	}

	// rsyslog inside accepts the drop-in as written.
	out := e.Must(t, ip1, "cat /etc/rsyslog.d/90-fatbox-forward.conf && rsyslogd -N1 2>&1")
	if !strings.Contains(out, `TCP_Framing="octet-counted"`) || !strings.Contains(out, "End of config validation run") {
		t.Fatalf("drop-in or its check:\n%s", out)
	}

	// TCP, the collector down: the message waits in the queue, and the
	// container's own logging goes on meanwhile.
	early := "early " + nonce(t)
	e.Must(t, ip1, "logger -t app '"+early+"'")
	e2ekit.WaitFor(t, 10*time.Second, "the early message in log-01's /var/log/syslog", func() bool {
		o, _ := e.Inside(t, ip1, "grep -c '"+early+"' /var/log/syslog")
		return strings.TrimSpace(o) == "1"
	})
	tcp := tcpCollector(t, ns, fmt.Sprintf(":%d", tcpPort))
	m := tcp.find(t, 20*time.Second, early)
	if m.hostname != "log-01" || m.app != "app" {
		t.Fatalf("TCP message: hostname %q app %q, want log-01 and app: %q", m.hostname, m.app, m.raw)
	}
	hello := "hello " + nonce(t)
	e.Must(t, ip1, "logger -p local0.info -t app '"+hello+"'")
	m = tcp.find(t, 10*time.Second, hello)
	if m.hostname != "log-01" || m.app != "app" || m.pri != "134" { // local0 (16) * 8 + info (6)
		t.Fatalf("TCP message: pri %q hostname %q app %q, want 134, log-01, app: %q", m.pri, m.hostname, m.app, m.raw)
	}
	t.Logf("over TCP: %q", m.raw)
	// log-03 forwards by its pool's setting.
	pooled := "pooled " + nonce(t)
	e.Must(t, e.Inspect("log-03").IP, "logger -t app '"+pooled+"'")
	if m := tcp.find(t, 20*time.Second, pooled); m.hostname != "log-03" {
		t.Fatalf("pool's collector: hostname %q, want log-03: %q", m.hostname, m.raw)
	}

	// UDP, set at run time on a container that had none.
	udp := udpCollector(t, ns, fmt.Sprintf(":%d", udpPort))
	r := e.OK("update", "log-02", "--syslog", fmt.Sprintf("udp://%s:%d", coll, udpPort))
	if !strings.Contains(r.Stdout+r.Stderr, "rsyslog restarted") {
		t.Fatalf("update --syslog: want a note that rsyslog was restarted: %s %s", r.Stdout, r.Stderr)
	}
	hello2 := "hello " + nonce(t)
	// rsyslog is being restarted by supervisord: log until one arrives.
	e2ekit.WaitFor(t, 20*time.Second, "a UDP message from log-02", func() bool {
		e.Must(t, ip2, "logger -t app '"+hello2+"'")
		udp.mu.Lock()
		defer udp.mu.Unlock()
		for _, m := range udp.msgs {
			if strings.Contains(m.msg, hello2) {
				return true
			}
		}
		return false
	})
	m = udp.find(t, time.Second, hello2)
	if m.hostname != "log-02" || m.app != "app" {
		t.Fatalf("UDP message: hostname %q app %q, want log-02 and app: %q", m.hostname, m.app, m.raw)
	}

	// none: the drop-in is gone and rsyslog restarted without it.
	e.OK("update", "log-02", "--syslog", "none")
	if out, code := e.Inside(t, ip2, "test -e /etc/rsyslog.d/90-fatbox-forward.conf"); code == 0 {
		t.Fatalf("drop-in still there after --syslog none: %s", out)
	}
	if got := e.Inspect("log-02").Syslog; got != "" {
		t.Fatalf("log-02's record still says syslog %q", got)
	}
}
