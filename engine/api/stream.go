package api

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
)

// ExecRequest asks the daemon to run a process in a running container; the
// connection then carries frames (see Frame) both ways until it exits.
type ExecRequest struct {
	Args []string `json:"args"`
	Env  []string `json:"env,omitempty"`
	Cwd  string   `json:"cwd,omitempty"`
	// TTY gives the process a terminal; Cols and Rows are its size.
	TTY  bool   `json:"tty,omitempty"`
	Cols uint16 `json:"cols,omitempty"`
	Rows uint16 `json:"rows,omitempty"`
	// Stdin: the client sends stdin frames; false means the process's stdin is /dev/null.
	Stdin bool `json:"stdin,omitempty"`
}

// Frame kinds of an exec stream. A frame is one kind byte, a big-endian
// uint32 length and that many bytes.
const (
	FrameStdin    byte = 'i' // client → daemon: bytes for the process's stdin
	FrameStdinEOF byte = 'I' // client → daemon: stdin is closed
	FrameResize   byte = 'r' // client → daemon: uint16 cols, uint16 rows
	FrameSignal   byte = 's' // client → daemon: a signal for the process, by its SSH name without "SIG" (TERM, INT, HUP, ...; see SignalNumber)
	FrameCredit   byte = 'c' // daemon → client: uint32, more stdin bytes the client may send
	FrameStdout   byte = 'o' // daemon → client
	FrameStderr   byte = 'e' // daemon → client
	FrameExit     byte = 'x' // daemon → client: int32 exit code; the last frame
	FrameError    byte = 'E' // daemon → client: the exec failed (text); the last frame
)

// SignalNumber is the Linux number of a signal a client may send an
// exec'd process, named as SSH names them (RFC 4254 section 6.10, without
// "SIG"), plus CONT, STOP, TSTP and WINCH; false for any other name.
func SignalNumber(name string) (int, bool) {
	switch name {
	case "HUP":
		return 1, true
	case "INT":
		return 2, true
	case "QUIT":
		return 3, true
	case "ILL":
		return 4, true
	case "ABRT":
		return 6, true
	case "FPE":
		return 8, true
	case "KILL":
		return 9, true
	case "USR1":
		return 10, true
	case "SEGV":
		return 11, true
	case "USR2":
		return 12, true
	case "PIPE":
		return 13, true
	case "ALRM":
		return 14, true
	case "TERM":
		return 15, true
	case "CONT":
		return 18, true
	case "STOP":
		return 19, true
	case "TSTP":
		return 20, true
	case "WINCH":
		return 28, true
	}
	return 0, false
}

// maxFrame bounds one frame's payload.
const maxFrame = 1 << 20

// StdinWindow is the stdin credit the daemon grants at the start of an exec.
// The client sends no more stdin than it has credit for, and the daemon
// grants more as the process reads; so the daemon's frame reader never
// waits on a process that does not read its stdin, and always sees the
// client go away.
const StdinWindow = 1 << 20

// stdinChunk is the most stdin one frame carries.
const stdinChunk = 32 << 10

// FrameWriter writes frames; safe for concurrent use.
type FrameWriter struct {
	mu sync.Mutex
	W  io.Writer
}

// Write sends one frame.
func (f *FrameWriter) Write(kind byte, p []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(p) > maxFrame || len(p) == maxFrame {
		if err := f.write(kind, p[:maxFrame-1]); err != nil {
			return err
		}
		p = p[maxFrame-1:]
	}
	return f.write(kind, p)
}

func (f *FrameWriter) write(kind byte, p []byte) error {
	var h [5]byte
	h[0] = kind
	binary.BigEndian.PutUint32(h[1:], uint32(len(p)))
	if _, err := f.W.Write(h[:]); err != nil {
		return err
	}
	_, err := f.W.Write(p)
	return err
}

// Stream returns an io.Writer whose writes become frames of kind.
func (f *FrameWriter) Stream(kind byte) io.Writer { return streamWriter{f, kind} }

type streamWriter struct {
	f    *FrameWriter
	kind byte
}

func (s streamWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := s.f.Write(s.kind, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// ReadFrame reads one frame.
func ReadFrame(r io.Reader) (byte, []byte, error) {
	var h [5]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[1:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("exec stream: frame of %d bytes is over the limit of %d", n, maxFrame)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return 0, nil, err
	}
	return h[0], p, nil
}

// ExecStreams are the client's side of an exec: where output goes, where
// input comes from (nil: none), terminal size changes (nil: none) and
// signals for the process (names SignalNumber knows; nil: none). The
// channels are read until the exec ends; they need not be closed.
type ExecStreams struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Resize         <-chan [2]uint16
	Signal         <-chan string
}

// Exec runs req in container name and returns the process's exit code.
func (c *Client) Exec(ctx context.Context, name string, req ExecRequest, s ExecStreams) (int, error) {
	return c.execStream(ctx, name, "/exec", req, s)
}

// Logs writes the last lines of a program's log (supervisord's own when
// program is ""), following it if follow until ctx ends.
func (c *Client) Logs(ctx context.Context, name, program string, lines int, follow bool, stdout, stderr io.Writer) (int, error) {
	q := url.Values{"program": {program}, "lines": {fmt.Sprint(lines)}}
	if follow {
		q.Set("follow", "1")
	}
	return c.execStream(ctx, name, "/logs?"+q.Encode(), ExecRequest{}, ExecStreams{Stdout: stdout, Stderr: stderr})
}

// Programs lists a running container's supervisord programs.
func (c *Client) Programs(ctx context.Context, name string) ([]ProgramStatus, error) {
	var out []ProgramStatus
	p, err := path("container", "/v1/containers/%s/programs", name)
	if err != nil {
		return out, err
	}
	err = c.Do(ctx, http.MethodGet, p, nil, &out)
	return out, err
}

// Program runs supervisord's ctl in container name: action is status,
// start, stop or restart; program "" means all (status only).
func (c *Client) Program(ctx context.Context, name, action, program string, stdout, stderr io.Writer) (int, error) {
	q := url.Values{"program": {program}}
	return c.execStream(ctx, name, "/programs/"+url.PathEscape(action)+"?"+q.Encode(), ExecRequest{}, ExecStreams{Stdout: stdout, Stderr: stderr})
}

func (c *Client) execStream(ctx context.Context, name, sub string, req ExecRequest, s ExecStreams) (int, error) {
	target, err := path("container", "/v1/containers/%s", name)
	if err != nil {
		return -1, err
	}
	req.Stdin = s.Stdin != nil
	body, err := json.Marshal(req)
	if err != nil {
		return -1, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.socket())
	if err != nil {
		return -1, c.unreachable(err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if _, err := fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: fatbox\r\nConnection: Upgrade\r\nUpgrade: fatbox-exec\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", target+sub, len(body), body); err != nil {
		return -1, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return -1, fmt.Errorf("exec in %q: read the daemon's answer: %w", name, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		return -1, decodeError(resp)
	}
	fw := &FrameWriter{W: conn}
	credit := make(chan int, 4096) // grants from the daemon
	defer close(credit)            // ends sendStdin; only the loop below sends on it
	if s.Stdin != nil {
		go sendStdin(fw, s.Stdin, credit)
	}
	// The senders below end with the stream, whether or not the caller
	// ever closes its channels.
	ended := make(chan struct{})
	defer close(ended)
	if s.Resize != nil {
		go func() {
			for {
				select {
				case <-ended:
					return
				case sz, ok := <-s.Resize:
					if !ok {
						return
					}
					var p [4]byte
					binary.BigEndian.PutUint16(p[:2], sz[0])
					binary.BigEndian.PutUint16(p[2:], sz[1])
					if fw.Write(FrameResize, p[:]) != nil {
						return
					}
				}
			}
		}()
	}
	if s.Signal != nil {
		go func() {
			for {
				select {
				case <-ended:
					return
				case sig, ok := <-s.Signal:
					if !ok || fw.Write(FrameSignal, []byte(sig)) != nil {
						return
					}
				}
			}
		}()
	}
	for {
		kind, p, err := ReadFrame(br)
		if err != nil {
			if ctx.Err() != nil {
				return -1, ctx.Err()
			}
			return -1, fmt.Errorf("exec in %q: the stream ended before the process's exit code (is the daemon still running?): %w", name, err)
		}
		switch kind {
		case FrameStdout:
			if s.Stdout != nil {
				_, _ = s.Stdout.Write(p)
			}
		case FrameStderr:
			if s.Stderr != nil {
				_, _ = s.Stderr.Write(p)
			}
		case FrameCredit:
			if len(p) == 4 {
				select {
				case credit <- int(binary.BigEndian.Uint32(p)):
				default: // more grants than the client can have used: not from this daemon
				}
			}
		case FrameExit:
			if len(p) != 4 {
				return -1, errors.New("exec stream: bad exit frame")
			}
			return int(int32(binary.BigEndian.Uint32(p))), nil
		case FrameError:
			return -1, errors.New(string(p))
		}
	}
}

// sendStdin sends in as stdin frames, within the credit the daemon grants,
// then stdin-EOF.
func sendStdin(fw *FrameWriter, in io.Reader, credit <-chan int) {
	avail := 0
	buf := make([]byte, stdinChunk)
	for {
		for drained := false; !drained; { // take every grant that has come
			select {
			case n, ok := <-credit:
				if !ok { // the stream ended: nobody reads stdin any more
					return
				}
				avail += n
			default:
				drained = true
			}
		}
		for avail == 0 {
			n, ok := <-credit
			if !ok {
				return
			}
			avail += n
		}
		n, err := in.Read(buf[:min(len(buf), avail)])
		if n > 0 {
			if fw.Write(FrameStdin, buf[:n]) != nil {
				return
			}
			avail -= n
		}
		if err != nil {
			_ = fw.Write(FrameStdinEOF, nil)
			return
		}
	}
}
