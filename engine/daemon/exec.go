package daemon

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/fatbox/fatbox/engine"
	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/engine/runtime"
)

func (d *Daemon) execRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/containers/{name}/exec", func(w http.ResponseWriter, r *http.Request) {
		var req api.ExecRequest
		if !decode(w, r, &req) {
			return
		}
		if len(req.Args) == 0 {
			writeError(w, r, invalid("exec needs a command: fatbox exec NAME -- CMD [ARGS]"))
			return
		}
		d.serveExec(w, r, req)
	})
	// Program logs and control are execs of fixed commands inside the
	// container, so they stream like exec.
	mux.HandleFunc("POST /v1/containers/{name}/logs", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		lines := 0
		if q.Has("lines") {
			n, err := strconv.Atoi(q.Get("lines"))
			if err != nil || n < 0 {
				writeError(w, r, invalid(fmt.Sprintf("lines=%q is not a count of lines: give a whole number, 0 or more", q.Get("lines"))))
				return
			}
			lines = n
		}
		follow, ok := flag(w, r, "follow")
		if !ok {
			return
		}
		args, err := engine.LogArgs(q.Get("program"), lines, follow)
		if err != nil {
			writeError(w, r, err)
			return
		}
		d.serveExec(w, r, api.ExecRequest{Args: args})
	})
	mux.HandleFunc("GET /v1/containers/{name}/programs", func(w http.ResponseWriter, r *http.Request) {
		ps, err := d.engine.Programs(r.Context(), r.PathValue("name"))
		out := make([]api.ProgramStatus, 0, len(ps))
		for _, p := range ps {
			out = append(out, api.ProgramStatus{Name: p.Name, State: p.State, PID: p.PID,
				UptimeSeconds: int64(p.Uptime.Seconds()), Description: p.Description})
		}
		reply(w, r, out, err)
	})
	mux.HandleFunc("POST /v1/containers/{name}/programs/{action}", func(w http.ResponseWriter, r *http.Request) {
		args, err := engine.ProgramArgs(r.PathValue("action"), r.URL.Query().Get("program"))
		if err != nil {
			writeError(w, r, err)
			return
		}
		d.serveExec(w, r, api.ExecRequest{Args: args})
	})
}

// serveExec checks the container, takes the connection over (101) and runs
// the process with its stdio as frames; a dropped connection kills it.
func (d *Daemon) serveExec(w http.ResponseWriter, r *http.Request, req api.ExecRequest) {
	name := r.PathValue("name")
	// An unread body lets the server cancel the request's context once the
	// client sends stream frames after it: read it all first.
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
	if err := d.engine.CheckRunning(r.Context(), name); err != nil {
		reply(w, r, nil, err)
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		writeError(w, r, fmt.Errorf("exec: the connection cannot be taken over: %w", err))
		return
	}
	defer conn.Close()
	// A stream has its own idle rules (the process decides how long it
	// runs): the body's read deadline no longer applies.
	_ = conn.SetDeadline(time.Time{})
	if _, err := io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: fatbox-exec\r\n\r\n"); err != nil {
		return
	}
	// The hijacked connection is no longer tied to the request's context.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fw := &api.FrameWriter{W: conn}

	var stdin io.Reader
	q := &stdinQueue{}
	q.cond = sync.NewCond(&q.mu)
	if req.Stdin {
		inR, inW := io.Pipe()
		stdin = inR
		// Once the process is gone nobody reads stdin: the feeder's writes
		// must fail, not block.
		defer inR.CloseWithError(errors.New("process exited"))
		defer q.close()
		// The feeder, not the frame reader, waits on the process reading
		// its stdin; it grants the client more credit as the process reads.
		go func() {
			for {
				p, eof, ok := q.pop()
				switch {
				case !ok:
					inW.CloseWithError(io.ErrUnexpectedEOF) // the client went away mid-stdin
					return
				case eof:
					inW.Close()
					return
				}
				if _, err := inW.Write(p); err != nil {
					return
				}
				var c [4]byte
				binary.BigEndian.PutUint32(c[:], uint32(len(p)))
				if fw.Write(api.FrameCredit, c[:]) != nil {
					return
				}
			}
		}()
		var c [4]byte
		binary.BigEndian.PutUint32(c[:], api.StdinWindow)
		if fw.Write(api.FrameCredit, c[:]) != nil {
			return
		}
	}
	resize := make(chan [2]uint16, 4)
	signals := make(chan syscall.Signal, 4)
	go func() {
		defer cancel() // the client went away: stop the process
		defer close(resize)
		defer close(signals)
		for {
			kind, p, err := api.ReadFrame(brw)
			if err != nil {
				q.close()
				return
			}
			switch kind {
			case api.FrameStdin:
				if req.Stdin && !q.push(p, false) {
					return // more than its credit: not our client
				}
			case api.FrameStdinEOF:
				if req.Stdin {
					q.push(nil, true)
				}
			case api.FrameSignal:
				if n, ok := api.SignalNumber(string(p)); ok {
					select {
					case signals <- syscall.Signal(n):
					default: // a flood: the process has more than it can act on
					}
				}
			case api.FrameResize:
				if len(p) == 4 {
					select {
					case resize <- [2]uint16{binary.BigEndian.Uint16(p[:2]), binary.BigEndian.Uint16(p[2:])}:
					default:
					}
				}
			}
		}
	}()
	code, err := d.engine.Exec(ctx, name, runtime.ExecConfig{Args: req.Args, Env: req.Env, Cwd: req.Cwd, TTY: req.TTY, Cols: req.Cols, Rows: req.Rows},
		runtime.Streams{Stdin: stdin, Stdout: fw.Stream(api.FrameStdout), Stderr: fw.Stream(api.FrameStderr), Resize: resize, Signal: signals})
	if err != nil {
		_ = fw.Write(api.FrameError, []byte(err.Error()))
		return
	}
	var p [4]byte
	binary.BigEndian.PutUint32(p[:], uint32(int32(code)))
	_ = fw.Write(api.FrameExit, p[:])
}

// stdinQueue holds the stdin frames the client sent and the process has not
// read yet; the client's credit bounds it to api.StdinWindow bytes.
type stdinQueue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	frames [][]byte
	bytes  int
	eof    bool // the client closed stdin
	closed bool // the client went away, or the exec ended
}

// push queues a frame (or EOF); false if the client sent beyond its credit.
func (q *stdinQueue) push(p []byte, eof bool) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if eof {
		q.eof = true
	} else {
		q.bytes += len(p)
		if q.bytes > api.StdinWindow {
			return false
		}
		q.frames = append(q.frames, append([]byte(nil), p...))
	}
	q.cond.Broadcast()
	return true
}

// pop waits for a frame: (frame, false, true), or EOF (nil, true, true), or
// the queue closed (nil, false, false).
func (q *stdinQueue) pop() ([]byte, bool, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.frames) == 0 && !q.eof && !q.closed {
		q.cond.Wait()
	}
	if len(q.frames) > 0 {
		p := q.frames[0]
		q.frames = q.frames[1:]
		q.bytes -= len(p)
		return p, false, true
	}
	if q.eof {
		return nil, true, true
	}
	return nil, false, false
}

func (q *stdinQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
}
