package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// notifySock is the NOTIFY_SOCKET of a Type=notify unit. Any sender is
// accepted (NotifyAccess=all in effect), but the socket is open to every
// user of the container: the kernel's SCM_CREDENTIALS of each datagram are
// kept, and run-unit takes MAINPID= only from root or when it names a
// process of the unit (else any user could make `systemctl stop` signal
// PID 1 or another user's process as root).
type notifySock struct {
	conn *net.UnixConn
	path string
	msgs chan notifyMsg
}

// notifyMsg is one datagram and its sender (uid -1: the kernel gave no
// credentials).
type notifyMsg struct {
	fields   map[string]string
	pid, uid int
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
	if rc, err := conn.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) { _ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1) })
	}
	_ = os.Chmod(p, 0o777) // services running as User= must reach it
	n := &notifySock{conn: conn, path: p, msgs: make(chan notifyMsg, 64)}
	go n.read()
	return n, nil
}

func (n *notifySock) read() {
	buf := make([]byte, 8192)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred))
	for {
		k, oobn, _, _, err := n.conn.ReadMsgUnix(buf, oob)
		if err != nil {
			close(n.msgs)
			return
		}
		m := notifyMsg{fields: parseNotify(string(buf[:k])), pid: -1, uid: -1}
		if cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for i := range cmsgs {
				if cred, err := unix.ParseUnixCredentials(&cmsgs[i]); err == nil {
					m.pid, m.uid = int(cred.Pid), int(cred.Uid)
				}
			}
		}
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
