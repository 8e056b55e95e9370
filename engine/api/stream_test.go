package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// shortDir is a temp dir with a path short enough for a unix socket.
func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "fbx")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// execConn is the fake daemon's side of one exec stream, after the 101.
type execConn struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
	req  *http.Request
	body ExecRequest
	fw   *FrameWriter
}

func (c *execConn) send(kind byte, p []byte) {
	c.t.Helper()
	if err := c.fw.Write(kind, p); err != nil {
		c.t.Errorf("fake daemon: send %q: %v", kind, err)
	}
}

func (c *execConn) sendU32(kind byte, v uint32) {
	c.t.Helper()
	var p [4]byte
	binary.BigEndian.PutUint32(p[:], v)
	c.send(kind, p[:])
}

func (c *execConn) exit(code int32) { c.sendU32(FrameExit, uint32(code)) }

// fakeExecd serves one exec stream on a unix socket the way the daemon
// does: it reads the upgrade request, answers 101 (unless upgrade is
// false: then serve writes the whole answer) and hands the connection to
// serve. The returned channel closes once serve returned.
func fakeExecd(t *testing.T, upgrade bool, serve func(c *execConn)) (string, <-chan struct{}) {
	t.Helper()
	sock := filepath.Join(shortDir(t), "d.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			t.Errorf("fake daemon: accept: %v", err)
			return
		}
		defer conn.Close()
		br := bufio.NewReader(conn)
		req, err := http.ReadRequest(br)
		if err != nil {
			t.Errorf("fake daemon: read the request: %v", err)
			return
		}
		c := &execConn{t: t, conn: conn, br: br, req: req, fw: &FrameWriter{W: conn}}
		if err := json.NewDecoder(req.Body).Decode(&c.body); err != nil {
			t.Errorf("fake daemon: request body: %v", err)
			return
		}
		if upgrade {
			if req.Method != http.MethodPost || req.Header.Get("Upgrade") != "fatbox-exec" || req.Header.Get("Connection") != "Upgrade" {
				t.Errorf("fake daemon: %s %s with Upgrade %q, Connection %q: not an exec upgrade", req.Method, req.URL, req.Header.Get("Upgrade"), req.Header.Get("Connection"))
			}
			if _, err := io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: fatbox-exec\r\n\r\n"); err != nil {
				t.Errorf("fake daemon: %v", err)
				return
			}
		}
		serve(c)
	}()
	return sock, done
}

func wait(t *testing.T, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the fake daemon did not finish")
	}
}

// lockedBuffer is a bytes.Buffer safe to write from the client's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestExecDemuxAndExitCode(t *testing.T) {
	sock, done := fakeExecd(t, true, func(c *execConn) {
		if c.req.URL.Path != "/v1/containers/web-01/exec" {
			t.Errorf("route %q", c.req.URL.Path)
		}
		if got := c.body; strings.Join(got.Args, " ") != "sh -c true" || !got.TTY || got.Cols != 80 || got.Rows != 24 || got.Stdin || got.Cwd != "/srv" || len(got.Env) != 1 {
			t.Errorf("exec request as the daemon read it: %+v", got)
		}
		c.send(FrameStdout, []byte("out1 "))
		c.send(FrameStderr, []byte("err1 "))
		c.sendU32(FrameCredit, 100) // no stdin: ignored
		c.send('z', []byte("a kind from a newer daemon"))
		c.send(FrameStdout, []byte("out2"))
		c.send(FrameStderr, []byte("err2"))
		c.exit(7)
	})
	var out, errb lockedBuffer
	code, err := (&Client{Socket: sock}).Exec(context.Background(), "web-01",
		ExecRequest{Args: []string{"sh", "-c", "true"}, TTY: true, Cols: 80, Rows: 24, Cwd: "/srv", Env: []string{"A=1"}},
		ExecStreams{Stdout: &out, Stderr: &errb})
	wait(t, done)
	if err != nil || code != 7 {
		t.Fatalf("exit %d, %v; want 7, nil", code, err)
	}
	if out.String() != "out1 out2" || errb.String() != "err1 err2" {
		t.Fatalf("stdout %q, stderr %q", out.String(), errb.String())
	}
}

// Exit codes are int32 on the wire: a signal's 137 and a negative one
// survive.
func TestExecExitCodes(t *testing.T) {
	for _, want := range []int32{0, 1, 137, 255, -2} {
		sock, done := fakeExecd(t, true, func(c *execConn) { c.exit(want) })
		code, err := (&Client{Socket: sock}).Exec(context.Background(), "a", ExecRequest{Args: []string{"x"}}, ExecStreams{})
		wait(t, done)
		if err != nil || code != int(want) {
			t.Errorf("exit frame %d: got %d, %v", want, code, err)
		}
	}
}

func TestExecErrorFrame(t *testing.T) {
	const msg = "exec in web-01: runc exec: no such file /bin/nope"
	sock, done := fakeExecd(t, true, func(c *execConn) {
		c.send(FrameStdout, []byte("partial"))
		c.send(FrameError, []byte(msg))
	})
	var out lockedBuffer
	code, err := (&Client{Socket: sock}).Exec(context.Background(), "web-01", ExecRequest{Args: []string{"/bin/nope"}}, ExecStreams{Stdout: &out})
	wait(t, done)
	if err == nil || err.Error() != msg || code != -1 {
		t.Fatalf("got %d, %v; want -1 and %q", code, err, msg)
	}
	if out.String() != "partial" {
		t.Fatalf("stdout before the error: %q", out.String())
	}
}

func TestExecBrokenStreams(t *testing.T) {
	for _, c := range []struct {
		name  string
		serve func(c *execConn)
		want  string
	}{
		{"closed before the exit code", func(c *execConn) { c.send(FrameStdout, []byte("x")) }, "stream ended before the process's exit code"},
		{"short exit frame", func(c *execConn) { c.send(FrameExit, []byte{0, 0, 1}) }, "bad exit frame"},
		{"frame over the limit", func(c *execConn) { _, _ = c.conn.Write(header(FrameStdout, maxFrame+1)) }, "over the limit"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sock, done := fakeExecd(t, true, c.serve)
			code, err := (&Client{Socket: sock}).Exec(context.Background(), "a", ExecRequest{Args: []string{"x"}}, ExecStreams{})
			wait(t, done)
			if err == nil || !strings.Contains(err.Error(), c.want) || code != -1 {
				t.Fatalf("got %d, %v; want -1 and an error with %q", code, err, c.want)
			}
		})
	}
}

// A refusal before the upgrade (not running, not found) is an API error
// with its code, like any other call's.
func TestExecRefused(t *testing.T) {
	sock, done := fakeExecd(t, false, func(c *execConn) {
		b, _ := json.Marshal(Error{Error: "container web-01 is not running: start it", Code: CodeConflict, RequestID: "r1"})
		_, _ = io.WriteString(c.conn, "HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\nContent-Length: "+itoa(len(b))+"\r\n\r\n"+string(b))
	})
	code, err := (&Client{Socket: sock}).Exec(context.Background(), "web-01", ExecRequest{Args: []string{"x"}}, ExecStreams{})
	wait(t, done)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != CodeConflict || se.HTTPStatus != 409 || se.RequestID != "r1" || code != -1 {
		t.Fatalf("got %d, %#v", code, err)
	}
	if !strings.Contains(err.Error(), "not running") {
		t.Fatalf("message %q lost the daemon's text", err)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// Cancelling the context ends the call and closes the connection, which
// is how the daemon notices a client that went away.
func TestExecCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sawEOF := make(chan error, 1)
	sock, done := fakeExecd(t, true, func(c *execConn) {
		c.send(FrameStdout, []byte("running"))
		for {
			if _, _, err := ReadFrame(c.br); err != nil {
				sawEOF <- err
				return
			}
		}
	})
	out := writerFunc(func(p []byte) (int, error) { cancel(); return len(p), nil })
	code, err := (&Client{Socket: sock}).Exec(ctx, "a", ExecRequest{Args: []string{"sleep", "1d"}}, ExecStreams{Stdout: out})
	wait(t, done)
	if !errors.Is(err, context.Canceled) || code != -1 {
		t.Fatalf("got %d, %v; want -1, context.Canceled", code, err)
	}
	if err := <-sawEOF; !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		t.Fatalf("the daemon's side ended with %v, want the connection closed", err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// stdinFake counts stdin against the credit it granted and fails the test
// on any frame beyond it.
type stdinFake struct {
	t        *testing.T
	granted  int
	received bytes.Buffer
	frames   int
	eof      bool
}

func (s *stdinFake) grant(c *execConn, n int) {
	s.granted += n
	c.sendU32(FrameCredit, uint32(n))
}

// read takes one client frame and checks it against the credit.
func (s *stdinFake) read(c *execConn) (byte, error) {
	k, p, err := ReadFrame(c.br)
	if err != nil {
		return 0, err
	}
	switch k {
	case FrameStdin:
		if s.eof {
			s.t.Errorf("stdin frame after stdin-EOF")
		}
		if len(p) > stdinChunk {
			s.t.Errorf("stdin frame of %d bytes, over stdinChunk %d", len(p), stdinChunk)
		}
		s.frames++
		s.received.Write(p)
		if s.received.Len() > s.granted {
			s.t.Errorf("client sent %d stdin bytes with %d granted", s.received.Len(), s.granted)
		}
	case FrameStdinEOF:
		s.eof = true
	}
	return k, nil
}

// The client sends all of stdin, in frames within the credit, whatever
// the grants' sizes (one byte, odd sizes, more than a chunk), then EOF.
func TestExecStdinCredit(t *testing.T) {
	data := make([]byte, 150_000)
	for i := range data {
		data[i] = byte(i * 31)
	}
	steps := []int{1000, 1, 7, 4096, stdinChunk + 5000, 3}
	var f *stdinFake
	sock, done := fakeExecd(t, true, func(c *execConn) {
		if !c.body.Stdin {
			t.Errorf("request has stdin false with a Stdin reader given")
		}
		f = &stdinFake{t: t}
		f.grant(c, steps[0])
		for i := 1; ; i++ {
			k, err := f.read(c)
			if err != nil {
				t.Errorf("fake daemon: %v", err)
				return
			}
			if k == FrameStdinEOF {
				break
			}
			if f.received.Len() == f.granted { // all used: only now more
				f.grant(c, steps[i%len(steps)])
			}
		}
		c.exit(0)
		// Nothing more may come: drain until the client hangs up.
		for {
			if _, err := f.read(c); err != nil {
				return
			}
		}
	})
	code, err := (&Client{Socket: sock}).Exec(context.Background(), "a", ExecRequest{Args: []string{"cat"}},
		ExecStreams{Stdin: bytes.NewReader(data)})
	wait(t, done)
	if err != nil || code != 0 {
		t.Fatalf("got %d, %v", code, err)
	}
	if !f.eof || !bytes.Equal(f.received.Bytes(), data) {
		t.Fatalf("daemon got %d of %d stdin bytes, eof %v", f.received.Len(), len(data), f.eof)
	}
	if f.frames < len(data)/stdinChunk {
		t.Fatalf("%d frames for %d bytes", f.frames, len(data))
	}
}

// With its credit used up and no more granted, the client sends nothing
// more, up to the moment it hangs up.
func TestExecStdinNeverBeyondCredit(t *testing.T) {
	const credit = 5000
	var f *stdinFake
	sock, done := fakeExecd(t, true, func(c *execConn) {
		f = &stdinFake{t: t}
		f.grant(c, credit)
		for f.received.Len() < credit {
			if _, err := f.read(c); err != nil {
				t.Errorf("fake daemon: %v", err)
				return
			}
		}
		c.exit(3)
		for {
			if _, err := f.read(c); err != nil {
				return
			}
		}
	})
	code, err := (&Client{Socket: sock}).Exec(context.Background(), "a", ExecRequest{Args: []string{"cat"}},
		ExecStreams{Stdin: bytes.NewReader(make([]byte, 10*credit))})
	wait(t, done)
	if err != nil || code != 3 {
		t.Fatalf("got %d, %v", code, err)
	}
	if f.received.Len() != credit || f.eof {
		t.Fatalf("daemon got %d stdin bytes (eof %v) with %d granted", f.received.Len(), f.eof, credit)
	}
}

// parkedOnCredit reports whether a goroutine running sendStdin is blocked
// receiving from its credit channel (nothing else it can do blocks on a
// channel receive).
func parkedOnCredit() bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "engine/api.sendStdin(") && strings.Contains(g, "[chan receive") {
			return true
		}
	}
	return false
}

// sendStdin on its own: it sends exactly what was granted and then waits
// for more; a closed credit channel (the exec ended) ends the wait without
// an EOF frame.
func TestSendStdinWaitsForCredit(t *testing.T) {
	var out lockedBuffer
	credit := make(chan int, 10)
	credit <- 60
	credit <- 40
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		sendStdin(&FrameWriter{W: &out}, bytes.NewReader(make([]byte, 1000)), credit)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !parkedOnCredit() {
		if time.Now().After(deadline) {
			t.Fatal("sendStdin never waited for credit")
		}
		time.Sleep(time.Millisecond)
	}
	// Parked: every write it made is complete.
	kinds, ps := readAll(t, strings.NewReader(out.String()))
	sent := 0
	for i, p := range ps {
		if kinds[i] != FrameStdin {
			t.Fatalf("frame %q while stdin has more", kinds[i])
		}
		sent += len(p)
	}
	if sent != 100 {
		t.Fatalf("sent %d bytes on a credit of 100 before waiting", sent)
	}
	close(credit) // the exec ended
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("sendStdin did not return once the credit channel closed")
	}
	if k, _ := readAll(t, strings.NewReader(out.String())); len(k) != len(kinds) {
		t.Fatalf("%d frames after the credit closed", len(k)-len(kinds))
	}
}

// closingReader closes the credit channel during a Read, as execStream's
// deferred close(credit) does when the exit frame comes while sendStdin is
// reading stdin (or writing a frame), with credit left.
type closingReader struct {
	close func()
	once  sync.Once
}

func (r *closingReader) Read(p []byte) (int, error) {
	r.once.Do(r.close)
	return copy(p, "more input\n"), nil
}

// BUG (engine/api/stream.go, sendStdin's drain loop): once the credit
// channel is closed, `case n := <-credit` is always ready (n == 0), so the
// loop that "takes every grant that has come" never ends: sendStdin spins a
// CPU forever instead of returning. It happens whenever sendStdin gets back
// to the top of its loop after execStream returned (exit or error frame)
// while it still had credit, e.g. `yes | fatbox exec -i c -- head -1`. The
// CLI exits right away, but a long-lived client (gateway, web console)
// leaks a spinning goroutine per exec. The fix: `case n, ok := <-credit:
// if !ok { return }`. This test fails (and leaves that goroutine spinning
// until the test binary exits) until it is fixed.
func TestSendStdinStopsWhenCreditCloses(t *testing.T) {
	credit := make(chan int, 1)
	credit <- 1000
	stopped := make(chan struct{})
	var out lockedBuffer
	go func() {
		defer close(stopped)
		sendStdin(&FrameWriter{W: &out}, &closingReader{close: func() { close(credit) }}, credit)
	}()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("sendStdin still running 5 s after its credit channel closed (it spins in its drain loop): engine/api/stream.go sendStdin must return when credit is closed")
	}
}

// A short stdin ends with one EOF frame, whatever credit is left.
func TestSendStdinEOF(t *testing.T) {
	var buf bytes.Buffer
	credit := make(chan int, 1)
	credit <- StdinWindow
	sendStdin(&FrameWriter{W: &buf}, strings.NewReader("hello\n"), credit)
	kinds, ps := readAll(t, &buf)
	if string(kinds) != "iI" || string(ps[0]) != "hello\n" || len(ps[1]) != 0 {
		t.Fatalf("frames %q %q", kinds, ps)
	}
}

func TestExecResize(t *testing.T) {
	sizes := [][2]uint16{{120, 40}, {80, 25}, {65535, 1}}
	resize := make(chan [2]uint16)
	defer close(resize)
	sock, done := fakeExecd(t, true, func(c *execConn) {
		c.send(FrameStdout, []byte("go")) // the test sends sizes once it sees this
		for i := 0; i < len(sizes); {
			k, p, err := ReadFrame(c.br)
			if err != nil {
				t.Errorf("fake daemon: %v", err)
				return
			}
			if k != FrameResize {
				continue
			}
			if len(p) != 4 {
				t.Errorf("resize frame of %d bytes", len(p))
				return
			}
			got := [2]uint16{binary.BigEndian.Uint16(p[:2]), binary.BigEndian.Uint16(p[2:])}
			if got != sizes[i] {
				t.Errorf("resize %d: %v, want %v (cols, rows)", i, got, sizes[i])
			}
			i++
		}
		c.exit(0)
	})
	out := writerFunc(func(p []byte) (int, error) {
		go func() {
			for _, s := range sizes {
				resize <- s
			}
		}()
		return len(p), nil
	})
	code, err := (&Client{Socket: sock}).Exec(context.Background(), "a", ExecRequest{Args: []string{"sh"}, TTY: true}, ExecStreams{Stdout: out, Resize: resize})
	wait(t, done)
	if err != nil || code != 0 {
		t.Fatalf("got %d, %v", code, err)
	}
}

// Logs and prog are exec streams on their own routes, with their options
// in the query.
func TestLogsAndProgramRoutes(t *testing.T) {
	for _, c := range []struct {
		name      string
		call      func(cl *Client, out io.Writer) (int, error)
		path      string
		query     map[string]string
		wantStdin bool
	}{
		{"logs follow", func(cl *Client, out io.Writer) (int, error) {
			return cl.Logs(context.Background(), "web-01", "cron", 50, true, out, io.Discard)
		}, "/v1/containers/web-01/logs", map[string]string{"program": "cron", "lines": "50", "follow": "1"}, false},
		{"logs supervisord", func(cl *Client, out io.Writer) (int, error) {
			return cl.Logs(context.Background(), "web-01", "", 0, false, out, io.Discard)
		}, "/v1/containers/web-01/logs", map[string]string{"program": "", "lines": "0", "follow": ""}, false},
		{"prog restart", func(cl *Client, out io.Writer) (int, error) {
			return cl.Program(context.Background(), "web-01", "restart", "sshd", out, io.Discard)
		}, "/v1/containers/web-01/programs/restart", map[string]string{"program": "sshd"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			sock, done := fakeExecd(t, true, func(ec *execConn) {
				if ec.req.URL.Path != c.path {
					t.Errorf("path %q, want %q", ec.req.URL.Path, c.path)
				}
				q := ec.req.URL.Query()
				for k, v := range c.query {
					if q.Get(k) != v {
						t.Errorf("query %s=%q, want %q (%s)", k, q.Get(k), v, ec.req.URL.RawQuery)
					}
				}
				if ec.body.Stdin != c.wantStdin {
					t.Errorf("stdin %v", ec.body.Stdin)
				}
				ec.send(FrameStdout, []byte("line\n"))
				ec.exit(0)
			})
			var out lockedBuffer
			code, err := c.call(&Client{Socket: sock}, &out)
			wait(t, done)
			if err != nil || code != 0 || out.String() != "line\n" {
				t.Fatalf("got %d, %v, %q", code, err, out.String())
			}
		})
	}
}

// Signals go as frames of their SSH names, in order; the sender ends with
// the exec even though the caller never closes its channel.
func TestExecSignal(t *testing.T) {
	sigs := []string{"INT", "TERM", "HUP"}
	sig := make(chan string, len(sigs))
	sock, done := fakeExecd(t, true, func(c *execConn) {
		c.send(FrameStdout, []byte("go"))
		for i := 0; i < len(sigs); {
			k, p, err := ReadFrame(c.br)
			if err != nil {
				t.Errorf("fake daemon: %v", err)
				return
			}
			if k != FrameSignal {
				continue
			}
			if string(p) != sigs[i] {
				t.Errorf("signal %d: %q, want %q", i, p, sigs[i])
			}
			i++
		}
		c.exit(7)
	})
	out := writerFunc(func(p []byte) (int, error) {
		for _, s := range sigs {
			sig <- s
		}
		return len(p), nil
	})
	code, err := (&Client{Socket: sock}).Exec(context.Background(), "a", ExecRequest{Args: []string{"sh"}}, ExecStreams{Stdout: out, Signal: sig})
	wait(t, done)
	if err != nil || code != 7 {
		t.Fatalf("got %d, %v", code, err)
	}
	for _, n := range []string{"TERM", "INT", "KILL", "HUP", "WINCH"} {
		if _, ok := SignalNumber(n); !ok {
			t.Errorf("SignalNumber(%q) unknown", n)
		}
	}
	if _, ok := SignalNumber("SIGTERM"); ok {
		t.Error("SignalNumber takes SSH names, without SIG")
	}
}
