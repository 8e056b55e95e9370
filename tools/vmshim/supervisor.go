package main

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ctlClient speaks supervisord's XML-RPC over its unix socket (what
// `supervisord ctl` does, without its colours and its always-0 exit code).
type ctlClient struct {
	sock string
}

// procInfo is one program in supervisord's getAllProcessInfo.
type procInfo struct {
	Name       string
	Statename  string // Running, Starting, Stopped, Stopping, Exited, Fatal, Backoff, Unknown
	Pid        int
	Exitstatus int
	Start      int64
	Stop       int64
	Logfile    string
}

func (p procInfo) running() bool {
	// Backoff (between retries, no process) counts as down: v0.7.3 also
	// leaves a program stopped during its startsecs in Backoff for good.
	switch strings.ToLower(p.Statename) {
	case "running", "starting", "stopping":
		return true
	}
	return false
}

type xvalue struct {
	String  *string  `xml:"string"`
	Int     *string  `xml:"int"`
	I4      *string  `xml:"i4"`
	Boolean *string  `xml:"boolean"`
	Struct  *xstruct `xml:"struct"`
	Array   *xarray  `xml:"array"`
	Text    string   `xml:",chardata"`
}

type xstruct struct {
	Members []struct {
		Name  string `xml:"name"`
		Value xvalue `xml:"value"`
	} `xml:"member"`
}

type xarray struct {
	Values []xvalue `xml:"data>value"`
}

type xresponse struct {
	Params []xvalue `xml:"params>param>value"`
	Fault  *xvalue  `xml:"fault>value"`
}

func (v xvalue) str() string {
	switch {
	case v.String != nil:
		return *v.String
	case v.Int != nil:
		return *v.Int
	case v.I4 != nil:
		return *v.I4
	case v.Boolean != nil:
		return *v.Boolean
	}
	return strings.TrimSpace(v.Text)
}

func (v xvalue) num() int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(v.str()), 10, 64)
	return n
}

func (v xvalue) member(name string) xvalue {
	if v.Struct != nil {
		for _, m := range v.Struct.Members {
			if m.Name == name {
				return m.Value
			}
		}
	}
	return xvalue{}
}

func encodeParam(b *bytes.Buffer, p any) {
	b.WriteString("<param><value>")
	switch v := p.(type) {
	case string:
		b.WriteString("<string>")
		_ = xml.EscapeText(b, []byte(v))
		b.WriteString("</string>")
	case bool:
		if v {
			b.WriteString("<boolean>1</boolean>")
		} else {
			b.WriteString("<boolean>0</boolean>")
		}
	case int:
		fmt.Fprintf(b, "<int>%d</int>", v)
	}
	b.WriteString("</value></param>")
}

// errNoSupervisord says the control socket did not answer.
var errNoSupervisord = errors.New("supervisord is not answering")

// call runs one XML-RPC method. supervisord closes and re-creates its
// socket on every reload, resetting the connections waiting in its
// backlog: a call that got no answer for that reason is made again, for
// up to 10 s (every method vmshim uses may be repeated).
func (c *ctlClient) call(method string, params ...any) ([]xvalue, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := c.callOnce(method, params...)
		if err == nil || !retryable(err) || time.Now().After(deadline) {
			return out, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// dialRetryable says whether a failed dial of the control socket is worth
// repeating: a socket missing or refusing while supervisord re-creates it
// (a reload). With no supervisord process at all nothing will serve it,
// so the caller fails at once instead of waiting 5 s per call. EACCES (not
// root) and the like do not go away.
func dialRetryable(err error, alive func() bool) bool {
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
		return alive()
	}
	return false
}

// supervisordAlive says whether a supervisord process runs (PID 1 in a
// container, where fatbox runs it as /.fatbox/init: its name is init).
func supervisordAlive() bool {
	table, err := readProcTable()
	if err != nil {
		return true // cannot tell: keep retrying as before
	}
	for _, p := range table {
		if (p.Comm == "supervisord" || p.PID == 1 && p.Comm == "init") && p.State != 'Z' {
			return true
		}
	}
	return false
}

// retryable: the request never reached a live server (a socket that is
// missing or refusing is retried by callOnce's dial).
func retryable(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

func (c *ctlClient) callOnce(method string, params ...any) ([]xvalue, error) {
	if c.sock == "" {
		return nil, fmt.Errorf("%w: systemctl --root only changes unit files; nothing is started or stopped", errNoSupervisord)
	}
	var body bytes.Buffer
	body.WriteString(`<?xml version="1.0"?><methodCall><methodName>` + method + `</methodName><params>`)
	for _, p := range params {
		encodeParam(&body, p)
	}
	body.WriteString("</params></methodCall>")

	var conn net.Conn
	var err error
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err = net.DialTimeout("unix", c.sock, 2*time.Second)
		if err == nil || time.Now().After(deadline) {
			break
		}
		if !dialRetryable(err, supervisordAlive) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("%w on %q (%w): is this a fat container with supervisord as PID 1?", errNoSupervisord, c.sock, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(120 * time.Second))
	req, err := http.NewRequest("POST", "http://supervisord/RPC2", bytes.NewReader(body.Bytes()))
	if err != nil {
		return nil, fmt.Errorf("supervisord %s: %w", method, err)
	}
	req.Header.Set("Content-Type", "text/xml")
	if err := req.Write(conn); err != nil {
		return nil, fmt.Errorf("supervisord %s: %w", method, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return nil, fmt.Errorf("supervisord %s: %w", method, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("supervisord %s: HTTP %s", method, resp.Status)
	}
	var r xresponse
	if err := xml.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("supervisord %s: reply: %w", method, err)
	}
	if r.Fault != nil {
		return nil, fmt.Errorf("supervisord %s: %s", method, r.Fault.member("faultString").str())
	}
	return r.Params, nil
}

// all lists every program.
func (c *ctlClient) all() ([]procInfo, error) {
	ps, err := c.call("supervisor.getAllProcessInfo")
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 || ps[0].Array == nil {
		return nil, nil
	}
	var out []procInfo
	for _, v := range ps[0].Array.Values {
		out = append(out, procInfo{
			Name:       v.member("name").str(),
			Statename:  v.member("statename").str(),
			Pid:        int(v.member("pid").num()),
			Exitstatus: int(v.member("exitstatus").num()),
			Start:      v.member("start").num(),
			Stop:       v.member("stop").num(),
			Logfile:    v.member("stdout_logfile").str(),
		})
	}
	return out, nil
}

// info returns one program; ok is false when supervisord has no such program.
func (c *ctlClient) info(name string) (procInfo, bool, error) {
	all, err := c.all()
	if err != nil {
		return procInfo{}, false, err
	}
	for _, p := range all {
		if p.Name == name {
			return p, true, nil
		}
	}
	return procInfo{}, false, nil
}

func (c *ctlClient) start(name string, wait bool) error {
	_, err := c.call("supervisor.startProcess", name, wait)
	return err
}

func (c *ctlClient) stop(name string, wait bool) error {
	_, err := c.call("supervisor.stopProcess", name, wait)
	return err
}

func (c *ctlClient) signal(name, sig string) error {
	_, err := c.call("supervisor.signalProcess", name, sig)
	return err
}

// reload makes supervisord read its configuration again. v0.7.3 then starts
// every autostart=true program that is stopped: callers re-stop them
// (reloadKeepingStopped).
func (c *ctlClient) reload() error {
	_, err := c.call("supervisor.reloadConfig")
	return err
}

// reloadKeepingStopped reloads and stops again every program that was not
// running before the reload. Stopping a program that is down only marks it
// stopped-by-user, which also cancels an autostart the reload queued but has
// not run yet, so it is done whatever state the program shows after.
func (s *shim) reloadKeepingStopped() error {
	c := s.ctl()
	before, err := c.all()
	if err != nil {
		return err
	}
	if err := c.reload(); err != nil {
		return err
	}
	var errs []error
	var restopped []string
	for _, p := range before {
		// A program between automatic restarts (Backoff) is meant to come
		// back, and vmshim's own init always is. One never started (start
		// time 0) is autostart=false, which a reload leaves alone, or about
		// to be autostarted at boot: stopping it would cancel that start.
		// A Backoff vmshim itself left (it stopped the program during its
		// startsecs) is a stopped program too.
		st := strings.ToLower(p.Statename)
		down := (st == "stopped" || st == "exited" || st == "fatal") && p.Start > 0 ||
			st == "backoff" && s.stoppedOnPurpose(p.Name)
		if down && p.Name != initProgram {
			s.markStopped(p.Name, true)
			if err := c.stop(p.Name, false); err != nil {
				errs = append(errs, fmt.Errorf("re-stopping %q after reload: %w", p.Name, err))
			}
			restopped = append(restopped, p.Name)
		}
	}
	// Let the kills land, so nobody sees them running in between.
	for end := time.Now().Add(3 * time.Second); len(restopped) > 0 && time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		all, err := c.all()
		if err != nil {
			break
		}
		up := false
		for _, p := range all {
			if slices.Contains(restopped, p.Name) && !downState(p.Statename) {
				up = true
			}
		}
		if !up {
			break
		}
	}
	return errors.Join(errs...)
}
