package sshgw

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"

	"github.com/fatbox/fatbox/sshgw/audit"
)

// handleDirect serves a direct-tcpip channel (ssh -J, ssh -W, -L). To a
// container's port 22 it is not forwarded: the gateway ends the inner SSH
// connection itself with the container's own host key and runs its
// sessions as any other (rules, login, recording, audit). To another port
// it is forwarded only where a rule allows channel forward to that port.
func (s *Server) handleDirect(_ *ssh.Server, sc *gossh.ServerConn, nc gossh.NewChannel, ctx ssh.Context) {
	var d struct {
		DestAddr   string
		DestPort   uint32
		OriginAddr string
		OriginPort uint32
	}
	if err := gossh.Unmarshal(nc.ExtraData(), &d); err != nil {
		_ = nc.Reject(gossh.ConnectionFailed, "bad direct-tcpip request: "+err.Error())
		return
	}
	way, _ := ParseWay(ctx.User())
	cn := connOf(ctx)
	base := audit.Entry{Session: cn.id, User: way.User, From: cn.from, Container: d.DestAddr, Channel: "direct-tcpip",
		Command: "direct-tcpip " + net.JoinHostPort(d.DestAddr, strconv.Itoa(int(d.DestPort)))}
	refuse := func(container string, port uint32, reason string) {
		e := base
		e.Time, e.Kind, e.Container, e.Reason = time.Now().UTC(), audit.KindRefused, container, reason
		s.audit(e)
		_ = nc.Reject(gossh.Prohibited, "gateway: "+reason)
	}
	c, err := s.resolve(ctx, d.DestAddr)
	if err != nil {
		refuse(d.DestAddr, d.DestPort, err.Error())
		return
	}
	a, err := s.Access()
	if err != nil {
		refuse(c.Name, d.DestPort, err.Error())
		return
	}
	if d.DestPort == 22 {
		// Whether the inner login may do what it asks is decided per
		// session; a user no rule lets into the container at all is
		// turned away here.
		any := false
		for _, ch := range []string{ChannelShell, ChannelExec, ChannelSFTP} {
			if a.Decide(Request{User: way.User, Container: c, Channel: ch}).Allowed {
				any = true
			}
		}
		if !any {
			refuse(c.Name, 22, a.Decide(Request{User: way.User, Container: c, Channel: ChannelShell}).Reason)
			return
		}
		s.serveInner(ctx, way.User, c.Name, nc)
		return
	}
	dec := a.Decide(Request{User: way.User, Container: c, Channel: ChannelForward, Port: int(d.DestPort)})
	if !dec.Allowed {
		refuse(c.Name, d.DestPort, dec.Reason)
		return
	}
	start := time.Now().UTC()
	var dl net.Dialer
	up, err := dl.DialContext(ctx, "tcp", net.JoinHostPort(c.IP, strconv.Itoa(int(d.DestPort))))
	if err != nil {
		_ = nc.Reject(gossh.ConnectionFailed, fmt.Sprintf("gateway: %s:%d: %v", c.Name, d.DestPort, err))
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		up.Close()
		return
	}
	go gossh.DiscardRequests(reqs)
	in, out := join(ch, up)
	e := base
	e.Time, e.End, e.Kind, e.Container, e.Bytes = start, time.Now().UTC(), audit.KindForward, c.Name, in+out
	s.audit(e)
}

// serveInner ends the SSH connection a -J client opens to container name
// through the channel: the gateway presents the container's host keys and
// takes the same user's public keys (the outer connection proved who the
// user is; the inner one must be the same person, so a key of another
// gateway user is refused).
func (s *Server) serveInner(ctx ssh.Context, user, name string, nc gossh.NewChannel) {
	signers, err := s.Fleet.HostKeys(ctx, name)
	if err != nil || len(signers) == 0 {
		_ = nc.Reject(gossh.ConnectionFailed, fmt.Sprintf("gateway: host keys of %q: %v", name, err))
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		return
	}
	go gossh.DiscardRequests(reqs)
	hs := make([]ssh.Signer, len(signers))
	for i, k := range signers {
		hs[i] = k
	}
	from := connOf(ctx).from
	// Inside, the SSH user name is the login; the user is the outer one's.
	who := func(login string) (string, string, string) { return user, login, name }
	inner := s.sshServer(hs, who, func(net.Conn) string { return from }, func(sess ssh.Session) {
		s.session(sess, user, sess.User(), name)
	})
	inner.HandleConn(&chanConn{Channel: ch, local: ctx.LocalAddr(), remote: ctx.RemoteAddr()})
}

// chanConn is an SSH channel as a net.Conn, for the inner server.
type chanConn struct {
	gossh.Channel
	local, remote net.Addr
}

func (c *chanConn) LocalAddr() net.Addr                { return c.local }
func (c *chanConn) RemoteAddr() net.Addr               { return c.remote }
func (c *chanConn) SetDeadline(t time.Time) error      { return nil }
func (c *chanConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *chanConn) SetWriteDeadline(t time.Time) error { return nil }
