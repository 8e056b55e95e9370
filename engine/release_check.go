package engine

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fatbox/fatbox/engine/network"
	"github.com/fatbox/fatbox/engine/runtime"
	"github.com/fatbox/fatbox/inventory"
)

// DefaultCheckTimeout bounds a release's health check.
const DefaultCheckTimeout = 60 * time.Second

func (c HealthCheck) String() string {
	switch {
	case len(c.Command) > 0:
		return "command " + strconv.Quote(strings.Join(c.Command, " "))
	case c.HTTPPort > 0:
		return fmt.Sprintf("http :%d%s", c.HTTPPort, c.HTTPPath)
	default:
		return fmt.Sprintf("tcp :%d", c.TCP)
	}
}

// checkHealthCheck fills the defaults (TCP 22, 60 s) and refuses a check
// that asks two things or impossible ones.
func checkHealthCheck(c HealthCheck) (HealthCheck, error) {
	n := 0
	for _, set := range []bool{c.TCP != 0, c.HTTPPort != 0 || c.HTTPPath != "", len(c.Command) > 0} {
		if set {
			n++
		}
	}
	if n > 1 {
		return c, invalidf("health check: give one of a TCP port, an HTTP port and path, or a command, not %d", n)
	}
	if n == 0 {
		c.TCP = 22 // every fat container runs sshd
	}
	for _, p := range []int{c.TCP, c.HTTPPort} {
		if p < 0 || p > 65535 {
			return c, invalidf("health check: port %d is not a port (1-65535)", p)
		}
	}
	if c.HTTPPath != "" || c.HTTPPort != 0 {
		if c.HTTPPort == 0 {
			return c, invalidf("health check: HTTP path %q without a port: give http:PORT/PATH", c.HTTPPath)
		}
		if c.HTTPPath == "" {
			c.HTTPPath = "/"
		}
		if !strings.HasPrefix(c.HTTPPath, "/") || strings.ContainsAny(c.HTTPPath, " \t\r\n") {
			return c, invalidf("health check: HTTP path %q must start with / and hold no spaces", c.HTTPPath)
		}
	}
	if len(c.Command) > 0 && c.Command[0] == "" {
		return c, invalidf("health check: the command is empty")
	}
	if c.Timeout < 0 {
		return c, invalidf("health check: timeout %s is negative", c.Timeout)
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultCheckTimeout
	}
	if c.Timeout > 30*time.Minute {
		return c, invalidf("health check: timeout %s is over 30m", c.Timeout)
	}
	return c, nil
}

// runCheck runs c against the candidate on its (temporary) address until
// it passes or c.Timeout ends; the error is the last failure.
func (e *Engine) runCheck(ctx context.Context, cand inventory.Record, c HealthCheck) error {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	nsPath := filepath.Join(network.NetnsDir, netnsName(cand.InstanceKey()))
	var last error
	for {
		last = e.checkOnce(ctx, cand, nsPath, c)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not passed within %s: %w", c.Timeout, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (e *Engine) checkOnce(ctx context.Context, cand inventory.Record, nsPath string, c HealthCheck) error {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	switch {
	case len(c.Command) > 0:
		var out bytes.Buffer
		buf := &limitedBuffer{b: &out, n: 4 << 10}
		code, err := e.Runtime.Exec(cctx, cand.InstanceKey(), runtime.ExecConfig{Args: c.Command}, runtime.Streams{Stdout: buf, Stderr: buf})
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("exited %d: %s", code, strings.TrimSpace(out.String()))
		}
		return nil
	case c.HTTPPort > 0:
		addr := net.JoinHostPort(cand.IP, strconv.Itoa(c.HTTPPort))
		conn, err := network.DialInNetns(cctx, nsPath, addr)
		if err != nil {
			return err
		}
		defer conn.Close()
		if dl, ok := cctx.Deadline(); ok {
			_ = conn.SetDeadline(dl)
		}
		req, _ := http.NewRequestWithContext(cctx, http.MethodGet, "http://"+addr+c.HTTPPath, nil)
		req.Header.Set("User-Agent", "fatbox-release-check")
		req.Close = true
		if err := req.Write(conn); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode >= 400 {
			return fmt.Errorf("GET %s answered %s", c.HTTPPath, resp.Status)
		}
		return nil
	default:
		conn, err := network.DialInNetns(cctx, nsPath, net.JoinHostPort(cand.IP, strconv.Itoa(c.TCP)))
		if err != nil {
			return err
		}
		return conn.Close()
	}
}
