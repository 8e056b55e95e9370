package sshgw

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/term"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/sshgw/audit"
	"github.com/fatbox/fatbox/sshgw/record"
)

// copyBuf is the buffer of each copy in the data path: one SSH packet
// holds at most 32 KiB, so a read never fills half of it and each Write
// carries all a read returned.
const copyBuf = 256 << 10

// handleOuter serves a session channel of a client connected to the
// gateway itself: USER (the menu), USER+CONTAINER or USER+LOGIN+CONTAINER.
func (s *Server) handleOuter(sess ssh.Session) {
	way, err := ParseWay(sess.User())
	if err != nil {
		fmt.Fprintf(sess.Stderr(), "gateway: %v\r\n", err)
		_ = sess.Exit(2)
		return
	}
	if way.Container != "" {
		s.session(sess, way.User, way.Login, way.Container)
		return
	}
	_, _, isPty := sess.Pty()
	if !isPty || sess.RawCommand() != "" || sess.Subsystem() != "" {
		fmt.Fprintf(sess.Stderr(), "gateway: name the container: ssh -p PORT %s+CONTAINER@GATEWAY, or ssh -J %s@GATEWAY:PORT LOGIN@CONTAINER\r\n", way.User, way.User)
		_ = sess.Exit(2)
		return
	}
	s.menu(sess, way.User)
}

// menu lists the containers the user may open a shell in and opens the
// one picked.
func (s *Server) menu(sess ssh.Session, user string) {
	ctx := sess.Context()
	a, err := s.Access()
	if err != nil {
		fmt.Fprintf(sess.Stderr(), "gateway: %v\r\n", err)
		_ = sess.Exit(1)
		return
	}
	cs, err := s.Fleet.ListContainers(ctx)
	if err != nil {
		fmt.Fprintf(sess.Stderr(), "gateway: cannot list containers: %v\r\n", err)
		_ = sess.Exit(1)
		return
	}
	var entries []MenuEntry
	for _, d := range a.Reachable(user, cs) {
		entries = append(entries, MenuEntry{Container: d.Container, Login: d.Login})
	}
	_, _ = io.WriteString(sess, Menu(user, entries))
	if len(entries) == 0 {
		_ = sess.Exit(1)
		return
	}
	t := term.NewTerminal(sess, "container (number or name, q to quit): ")
	for {
		line, err := t.ReadLine()
		if err != nil {
			_ = sess.Exit(0)
			return
		}
		i, err := Pick(line, entries)
		if err != nil {
			fmt.Fprintf(t, "%v\r\n", err)
			continue
		}
		if i < 0 {
			_ = sess.Exit(0)
			return
		}
		s.session(sess, user, entries[i].Login, entries[i].Container)
		return
	}
}

// job is one session's work in a container, whichever path runs it.
type job struct {
	c         api.Container
	login     string
	pty       *ssh.Pty
	winch     <-chan ssh.Window
	cmd       string // "" for a shell
	subsystem string
	env       []string
	in        io.Reader
	out, eout io.Writer
	signals   <-chan ssh.Signal
	// agent opens a channel to the client's agent; nil: not forwarded.
	agent func() (gossh.Channel, error)
}

// session runs what sess asks for in container host (name or IP) as login.
func (s *Server) session(sess ssh.Session, user, login, host string) {
	ctx, cancel := context.WithCancel(sess.Context())
	defer cancel()
	cn := connOf(sess.Context())
	base := audit.Entry{Session: cn.id, User: user, From: cn.from, Container: host, Login: login, Command: sess.RawCommand()}
	refuse := func(reason string) {
		e := base
		e.Time, e.Kind, e.Reason = time.Now().UTC(), audit.KindRefused, reason
		s.audit(e)
		fmt.Fprintf(sess.Stderr(), "gateway: %s\r\n", reason)
		_ = sess.Exit(1)
	}
	a, err := s.Access()
	if err != nil {
		refuse(err.Error())
		return
	}
	c, err := s.resolve(ctx, host)
	if err != nil {
		refuse(err.Error() + ": check the name with `fatbox ls`")
		return
	}
	base.Container = c.Name
	channel := classify(sess.Subsystem(), sess.RawCommand())
	base.Channel = channel
	if sess.Subsystem() != "" && sess.Subsystem() != "sftp" {
		refuse(fmt.Sprintf("subsystem %q is not served: only sftp is", sess.Subsystem()))
		return
	}
	d := a.Decide(Request{User: user, Container: c, Login: login, Channel: channel})
	if !d.Allowed {
		refuse(d.Reason)
		return
	}
	base.Login = d.Login
	if c.Status != "running" {
		refuse(fmt.Sprintf("container %q is %s: start it with `fatbox start %s`", c.Name, c.Status, c.Name))
		return
	}
	pty, winch, isPty := sess.Pty()
	j := &job{c: c, login: d.Login, cmd: sess.RawCommand(), subsystem: sess.Subsystem(), env: sess.Environ()}
	if isPty {
		j.pty, j.winch = &pty, winch
	}
	sigs := make(chan ssh.Signal, 4)
	sess.Signals(sigs)
	defer sess.Signals(nil)
	j.signals = sigs
	if d.Agent && ssh.AgentRequested(sess) {
		if sc, _ := sess.Context().Value(ssh.ContextKeyConn).(gossh.Conn); sc != nil {
			j.agent = func() (gossh.Channel, error) {
				ch, reqs, err := sc.OpenChannel("auth-agent@openssh.com", nil)
				if err == nil {
					go gossh.DiscardRequests(reqs)
				}
				return ch, err
			}
		}
	}
	var in, out atomic.Int64
	j.in = countReader{sess, &in}
	j.out, j.eout = countWriter{sess, &out}, countWriter{sess.Stderr(), &out}

	// Interactive sessions are recorded; a session whose recording cannot
	// go on (its cap, a full disk) is ended, never run unrecorded.
	var rec *record.Session
	if isPty && s.Recorder != nil {
		meta := map[string]string{"user": user, "container": c.Name, "login": d.Login, "from": cn.from, "command": j.cmd}
		r, err := s.Recorder.Start(cn.recordingID(), pty.Window.Width, pty.Window.Height, meta)
		if err != nil {
			s.log().Error("gateway: a session is refused: it cannot be recorded", "error", err)
			refuse(fmt.Sprintf("the session cannot be recorded (%v): ask the operator to check the gateway's recordings", err))
			return
		}
		rec = r
		base.Session = r.ID()
		var once sync.Once
		stopped := func() {
			once.Do(func() {
				fmt.Fprintf(sess.Stderr(), "\r\ngateway: the session ends: %v\r\n", rec.Err())
				cancel()
			})
		}
		j.in = recordInput{j.in, rec, stopped}
		j.out = recordOutput{j.out, rec, stopped}
		w := make(chan ssh.Window, 1)
		go func() {
			defer close(w)
			for win := range winch {
				rec.Resize(win.Width, win.Height)
				w <- win
			}
		}()
		j.winch = w
		go func() {
			select {
			case <-rec.Done():
				stopped()
			case <-ctx.Done():
			}
		}()
	}
	// File transfers are audited one line per file.
	emit := func(t audit.Transfer) { s.audit(t.Entry(base)) }
	var closeTap func()
	if j.subsystem == "sftp" {
		t := audit.NewSFTP(emit)
		j.in, j.out, closeTap = io.TeeReader(j.in, t.ClientToServer()), io.MultiWriter(t.ServerToClient(), j.out), t.Close
	} else if t := audit.NewSCP(j.cmd, emit); t != nil {
		j.in, j.out, closeTap = io.TeeReader(j.in, t.ClientToServer()), io.MultiWriter(t.ServerToClient(), j.out), t.Close
	}
	start := time.Now().UTC()
	code, err := s.run(ctx, d.Path, j)
	if closeTap != nil {
		closeTap()
	}
	if rec != nil {
		if cerr := rec.Close(); cerr != nil {
			s.log().Error("gateway: recording", "session", base.Session, "error", cerr)
		}
	}
	e := base
	e.Time, e.End, e.Bytes = start, time.Now().UTC(), in.Load()+out.Load()
	e.Kind = audit.KindSession
	if channel == ChannelExec || (channel == ChannelSFTP && j.subsystem == "") {
		e.Kind = audit.KindExec
	}
	if err != nil {
		e.Reason = err.Error()
		fmt.Fprintf(sess.Stderr(), "gateway: %v\r\n", err)
		code = 255
	}
	e.Exit = &code
	s.audit(e)
	_ = sess.Exit(code)
}

// classify names the channel a session asks for: sftp for the sftp
// subsystem and scp's remote end (both protocols), exec for other
// commands, shell otherwise.
func classify(subsystem, cmd string) string {
	switch {
	case subsystem != "":
		return ChannelSFTP
	case cmd == "":
		return ChannelShell
	}
	if _, _, _, ok := audit.ParseSCP(cmd); ok {
		return ChannelSFTP
	}
	return ChannelExec
}

// run runs j on the rule's path and returns the exit status.
func (s *Server) run(ctx context.Context, path string, j *job) (int, error) {
	if path == PathExec {
		return s.viaExec(ctx, j)
	}
	return s.viaSSHD(ctx, j)
}

// SFTPServer is the container's sftp-server the exec path runs.
const SFTPServer = "/usr/lib/openssh/sftp-server"

// execArgs are the exec path's command for j, as sshd would run it: as
// j.login (setpriv: its uid, gid and groups, and HOME, SHELL, USER,
// LOGNAME and PATH from its passwd entry, TERM kept), in its home, its
// shell as a login shell, or its shell -c the command. Not runuser or su:
// with -c they put the command on a terminal of their own (0x0, no
// resizes).
func execArgs(j *job) []string {
	priv := []string{"setpriv", "--reuid=" + j.login, "--regid=" + j.login, "--init-groups", "--reset-env", "--", "sh", "-c"}
	const home = `cd "$HOME" 2>/dev/null || cd /; `
	switch {
	case j.subsystem == "sftp":
		return append(priv, home+"exec "+SFTPServer)
	case j.cmd != "":
		return append(priv, home+`exec "$SHELL" -c "$1"`, "sh", j.cmd)
	}
	return append(priv, home+`exec "$SHELL" -l`)
}

// viaExec runs j through the daemon's exec API: no sshd needed.
func (s *Server) viaExec(ctx context.Context, j *job) (int, error) {
	req := api.ExecRequest{Args: execArgs(j)}
	var resize chan [2]uint16
	if j.pty != nil {
		req.TTY, req.Cols, req.Rows = true, uint16(j.pty.Window.Width), uint16(j.pty.Window.Height)
		req.Env = []string{"TERM=" + j.pty.Term}
		resize = make(chan [2]uint16, 4)
		go func() {
			defer close(resize)
			for w := range j.winch {
				select {
				case resize <- [2]uint16{uint16(w.Width), uint16(w.Height)}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	sigs := make(chan string, 4)
	go func() {
		for sig := range j.signals {
			select {
			case sigs <- string(sig):
			case <-ctx.Done():
				return
			}
		}
	}()
	code, err := s.Fleet.Exec(ctx, j.c.Name, req, api.ExecStreams{Stdin: j.in, Stdout: j.out, Stderr: j.eout, Resize: resize, Signal: sigs})
	if err != nil {
		return 255, fmt.Errorf("exec in %q: %w", j.c.Name, err)
	}
	return code, nil
}

// dialSSHD logs in to c's sshd as login with the gateway's client key,
// checking c's host key against the ones fatbox generated for it.
func (s *Server) dialSSHD(ctx context.Context, c api.Container, login string) (*gossh.Client, error) {
	if c.IP == "" {
		return nil, fmt.Errorf("container %q has no IP: use a rule with path: exec", c.Name)
	}
	keys, err := s.Fleet.HostKeys(ctx, c.Name)
	if err != nil {
		return nil, fmt.Errorf("host keys of %q: %w", c.Name, err)
	}
	want := map[string]bool{}
	var algos []string
	for _, k := range keys {
		want[string(k.PublicKey().Marshal())] = true
		if t := k.PublicKey().Type(); t == gossh.KeyAlgoRSA {
			algos = append(algos, gossh.KeyAlgoRSASHA512, gossh.KeyAlgoRSASHA256)
		} else {
			algos = append(algos, t)
		}
	}
	cfg := &gossh.ClientConfig{
		User: login,
		Auth: []gossh.AuthMethod{gossh.PublicKeys(s.ClientKey)},
		HostKeyCallback: func(_ string, _ net.Addr, k gossh.PublicKey) error {
			if !want[string(k.Marshal())] {
				return fmt.Errorf("%w: container %q presented %s, not a host key fatbox generated for it", ErrHostKey, c.Name, gossh.FingerprintSHA256(k))
			}
			return nil
		},
		HostKeyAlgorithms: algos,
		Config:            gossh.Config{Ciphers: append(gcmCiphers(), "chacha20-poly1305@openssh.com", "aes128-ctr", "aes256-ctr")},
		Timeout:           10 * time.Second,
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(c.IP, "22"))
	if err != nil {
		return nil, fmt.Errorf("container %q's sshd: %w (is sshd running? `fatbox prog status %s`; a rule with path: exec needs no sshd)", c.Name, err, c.Name)
	}
	cc, chans, reqs, err := gossh.NewClientConn(nc, nc.RemoteAddr().String(), cfg)
	if err != nil {
		nc.Close()
		if errors.Is(err, ErrHostKey) {
			return nil, err
		}
		return nil, fmt.Errorf("log in to %q as %s with the gateway's key: %w (the engine puts the key in the login's authorized_keys)", c.Name, login, err)
	}
	return gossh.NewClient(cc, chans, reqs), nil
}

// ErrHostKey is a container sshd whose host key is not the one fatbox made.
var ErrHostKey = errors.New("host key mismatch")

// viaSSHD runs j through the container's own sshd, on a raw session
// channel: its data is read and written straight, with no copy in
// between, and exit-status, exit-signal and signals pass as they are.
func (s *Server) viaSSHD(ctx context.Context, j *job) (int, error) {
	client, err := s.dialSSHD(ctx, j.c, j.login)
	if err != nil {
		return 255, err
	}
	defer client.Close()
	stop := context.AfterFunc(ctx, func() { client.Close() })
	defer stop()
	ch, reqs, err := client.OpenChannel("session", nil)
	if err != nil {
		return 255, fmt.Errorf("session in %q: %w", j.c.Name, err)
	}
	defer ch.Close()
	exit := make(chan int, 1)
	go func() {
		code := 255 // no exit-status: killed by a signal, or gone
		for r := range reqs {
			switch r.Type {
			case "exit-status":
				if len(r.Payload) >= 4 {
					code = int(binary.BigEndian.Uint32(r.Payload))
				}
			case "exit-signal":
				code = 255 // as OpenSSH's client exits on a remote signal
			}
			if r.WantReply {
				_ = r.Reply(false, nil)
			}
		}
		exit <- code
	}()
	if j.agent != nil {
		if err := forwardAgent(client, ch, j.agent); err != nil {
			return 255, err
		}
	}
	for _, kv := range j.env {
		if k, v, ok := strings.Cut(kv, "="); ok { // sshd takes what its AcceptEnv lists
			_, _ = ch.SendRequest("env", false, gossh.Marshal(struct{ Name, Value string }{k, v}))
		}
	}
	if j.pty != nil {
		req := struct {
			Term             string
			Cols, Rows, W, H uint32
			Modes            string
		}{j.pty.Term, uint32(j.pty.Window.Width), uint32(j.pty.Window.Height), 0, 0, "\x00"}
		if ok, err := ch.SendRequest("pty-req", true, gossh.Marshal(req)); err != nil || !ok {
			return 255, fmt.Errorf("pty in %q: refused (%v)", j.c.Name, err)
		}
		go func() {
			for w := range j.winch {
				_, _ = ch.SendRequest("window-change", false, gossh.Marshal(struct{ Cols, Rows, W, H uint32 }{uint32(w.Width), uint32(w.Height), 0, 0}))
			}
		}()
	}
	go func() {
		for sig := range j.signals {
			_, _ = ch.SendRequest("signal", false, gossh.Marshal(struct{ Name string }{string(sig)}))
		}
	}()
	var ok bool
	switch {
	case j.subsystem != "":
		ok, err = ch.SendRequest("subsystem", true, gossh.Marshal(struct{ Name string }{j.subsystem}))
	case j.cmd != "":
		ok, err = ch.SendRequest("exec", true, gossh.Marshal(struct{ Command string }{j.cmd}))
	default:
		ok, err = ch.SendRequest("shell", true, nil)
	}
	if err == nil && !ok {
		err = errors.New("the container's sshd refused it")
	}
	if err != nil {
		return 255, fmt.Errorf("start in %q: %w", j.c.Name, err)
	}
	go func() {
		_, _ = io.CopyBuffer(ch, j.in, make([]byte, copyBuf))
		_ = ch.CloseWrite()
	}()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = io.CopyBuffer(j.eout, ch.Stderr(), make([]byte, 32<<10))
	}()
	_, _ = io.CopyBuffer(j.out, ch, make([]byte, copyBuf))
	wg.Wait()
	select {
	case code := <-exit:
		return code, nil
	case <-ctx.Done():
		return 255, context.Cause(ctx)
	}
}

// forwardAgent asks the container's sshd to forward an agent and joins
// each agent channel it opens to one on the client's connection.
func forwardAgent(client *gossh.Client, ch gossh.Channel, open func() (gossh.Channel, error)) error {
	chans := client.HandleChannelOpen("auth-agent@openssh.com")
	if chans == nil {
		return errors.New("agent forwarding: already handled")
	}
	go func() {
		for nc := range chans {
			down, err := open()
			if err != nil {
				_ = nc.Reject(gossh.ConnectionFailed, "the client's agent is not reachable")
				continue
			}
			up, reqs, err := nc.Accept()
			if err != nil {
				down.Close()
				continue
			}
			go gossh.DiscardRequests(reqs)
			go join(up, down)
		}
	}()
	ok, err := ch.SendRequest("auth-agent-req@openssh.com", true, nil)
	if err == nil && !ok {
		err = errors.New("the container's sshd refused it (AllowAgentForwarding)")
	}
	if err != nil {
		return fmt.Errorf("agent forwarding: %w", err)
	}
	return nil
}

// join copies a and b both ways, then closes both.
func join(a, b io.ReadWriteCloser) (ab, ba int64) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ba, _ = io.CopyBuffer(a, b, make([]byte, copyBuf))
		closeWrite(a)
	}()
	ab, _ = io.CopyBuffer(b, a, make([]byte, copyBuf))
	closeWrite(b)
	wg.Wait()
	a.Close()
	b.Close()
	return ab, ba
}

func closeWrite(c io.Closer) {
	switch w := c.(type) {
	case interface{ CloseWrite() error }:
		_ = w.CloseWrite()
	default:
		_ = c.Close()
	}
}

type countReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

type countWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// recordInput records what the user types; stopped ends the session
// once the recording stops (its cap, a write error).
type recordInput struct {
	r       io.Reader
	rec     *record.Session
	stopped func()
}

func (r recordInput) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.rec.Input(p[:n])
		if !r.rec.Recording() {
			r.stopped()
			return 0, r.rec.Err()
		}
	}
	return n, err
}

// recordOutput records what the session prints; what could not be
// recorded is not shown either.
type recordOutput struct {
	w       io.Writer
	rec     *record.Session
	stopped func()
}

func (r recordOutput) Write(p []byte) (int, error) {
	r.rec.Output(p)
	if !r.rec.Recording() {
		r.stopped()
		return 0, r.rec.Err()
	}
	return r.w.Write(p)
}
