package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// HealthCheck is what a release's candidate must pass on its temporary
// address before it takes the name: one of a TCP port, an HTTP port and
// path (2xx/3xx), or a command run inside (exit 0). Zero: TCP 22.
type HealthCheck struct {
	TCP      int      `json:"tcp,omitempty"`
	HTTPPort int      `json:"http_port,omitempty"`
	HTTPPath string   `json:"http_path,omitempty"`
	Command  []string `json:"command,omitempty"`
	// TimeoutSeconds bounds the check; 0: 60.
	TimeoutSeconds float64 `json:"timeout_seconds,omitempty"`
}

// ParseCheck reads the CLI's --check: tcp:PORT, http:PORT[/PATH], or
// cmd:COMMAND (run with /bin/sh -c inside the candidate); "" is the
// default (tcp:22). The daemon checks the result again.
func ParseCheck(s string, timeout time.Duration) (HealthCheck, error) {
	c := HealthCheck{TimeoutSeconds: timeout.Seconds()}
	kind, rest, _ := strings.Cut(s, ":")
	switch {
	case s == "":
	case kind == "tcp":
		p, err := strconv.Atoi(rest)
		if err != nil || p < 1 || p > 65535 {
			return c, fmt.Errorf("--check %q: want tcp:PORT with a port 1-65535", s)
		}
		c.TCP = p
	case kind == "http":
		port, path, _ := strings.Cut(rest, "/")
		p, err := strconv.Atoi(port)
		if err != nil || p < 1 || p > 65535 {
			return c, fmt.Errorf("--check %q: want http:PORT/PATH, e.g. http:8080/health", s)
		}
		c.HTTPPort, c.HTTPPath = p, "/"+path
	case kind == "cmd":
		if strings.TrimSpace(rest) == "" {
			return c, fmt.Errorf("--check %q: want cmd:COMMAND, e.g. cmd:'curl -fs localhost:8080/health'", s)
		}
		c.Command = []string{"/bin/sh", "-c", rest}
	default:
		return c, fmt.Errorf("--check %q: want tcp:PORT, http:PORT/PATH or cmd:COMMAND", s)
	}
	if timeout < 0 {
		return c, fmt.Errorf("--check-timeout %s is negative", timeout)
	}
	return c, nil
}

// ReleaseRequest is the body of POST /v1/containers/{name}/release: the
// name goes to a new container from Image, or to the container From.
type ReleaseRequest struct {
	Image string      `json:"image,omitempty"`
	From  string      `json:"from,omitempty"`
	Check HealthCheck `json:"check"`
}

// RollbackRequest is the body of POST /v1/containers/{name}/rollback.
type RollbackRequest struct {
	Check HealthCheck `json:"check"`
}

// ReleaseResult says what a release or rollback did.
type ReleaseResult struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	Candidate   string `json:"candidate"`
	CandidateIP string `json:"candidate_ip"`
	// Last names the container that had the name (stopped, no address).
	Last string `json:"last"`
	// Discarded is the previous <name>-last, removed ("" none).
	Discarded     string  `json:"discarded,omitempty"`
	Check         string  `json:"check"`
	CheckSeconds  float64 `json:"check_seconds"`
	SwitchSeconds float64 `json:"switch_seconds"`
	// SwitchSteps say what the switch spent its time on ("readdress 21ms").
	SwitchSteps []string  `json:"switch_steps,omitempty"`
	IP          string    `json:"ip"`
	Container   Container `json:"container"`
}

// releaseTimeout is the client's bound on a release: the candidate's
// create and boot, its check (up to its timeout) and the switch.
func releaseTimeout(c HealthCheck) time.Duration {
	t := 60.0
	if c.TimeoutSeconds > 0 {
		t = c.TimeoutSeconds
	}
	return time.Duration(t)*time.Second + 5*time.Minute
}

// ReleaseContainer hands name to a new container (see ReleaseRequest).
func (c *Client) ReleaseContainer(ctx context.Context, name string, req ReleaseRequest) (ReleaseResult, error) {
	var out ReleaseResult
	p, err := path("container", "/v1/containers/%s/release", name)
	if err != nil {
		return out, err
	}
	cl := *c
	if cl.Timeout == 0 {
		cl.Timeout = releaseTimeout(req.Check)
	}
	err = cl.Do(ctx, http.MethodPost, p, req, &out)
	return out, err
}

// RollbackContainer gives name back to <name>-last.
func (c *Client) RollbackContainer(ctx context.Context, name string, req RollbackRequest) (ReleaseResult, error) {
	var out ReleaseResult
	p, err := path("container", "/v1/containers/%s/rollback", name)
	if err != nil {
		return out, err
	}
	cl := *c
	if cl.Timeout == 0 {
		cl.Timeout = releaseTimeout(req.Check)
	}
	err = cl.Do(ctx, http.MethodPost, p, req, &out)
	return out, err
}
