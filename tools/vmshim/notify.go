package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// notifySock is the NOTIFY_SOCKET of a Type=notify unit. Any sender is
// accepted (no SCM_CREDENTIALS check: NotifyAccess=all in effect).
type notifySock struct {
	conn *net.UnixConn
	path string
	msgs chan map[string]string
}

func (s *shim) openNotify(unit string) (*notifySock, error) {
	dir := s.path(notifyDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", notifyDir, err)
	}
	p := filepath.Join(dir, unit)
	if len(p) > 100 {
		h := sha256.Sum256([]byte(unit))
		p = filepath.Join(dir, hex.EncodeToString(h[:8]))
	}
	os.Remove(p)
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: p, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("notify socket %s: %w", p, err)
	}
	_ = os.Chmod(p, 0o777) // services running as User= must reach it
	n := &notifySock{conn: conn, path: p, msgs: make(chan map[string]string, 64)}
	go n.read()
	return n, nil
}

func (n *notifySock) read() {
	buf := make([]byte, 8192)
	for {
		k, _, err := n.conn.ReadFromUnix(buf)
		if err != nil {
			close(n.msgs)
			return
		}
		m := parseNotify(string(buf[:k]))
		select {
		case n.msgs <- m:
		default: // a flood of STATUS= updates: drop rather than block
		}
	}
}

// parseNotify reads an sd_notify datagram: newline-separated KEY=VALUE.
func parseNotify(msg string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(msg, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

func (n *notifySock) close() {
	n.conn.Close()
	os.Remove(n.path)
}
