package arp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// conn is an AF_PACKET SOCK_RAW socket bound to one interface that only
// receives ARP frames. It goes through the runtime poller (os.File), so reads
// honour deadlines without blocking an OS thread.
type conn struct {
	f     *os.File
	rc    syscall.RawConn
	ifi   *net.Interface
	proto uint16 // ETH_P_ARP in network byte order
}

func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

// listen opens the socket in the calling thread's network namespace.
func listen(ifi *net.Interface) (*conn, error) {
	// Protocol 0 receives nothing until bind sets ETH_P_ARP together with the
	// interface, so no frame from another interface slips in between.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("open AF_PACKET socket for interface %q: %w: needs CAP_NET_RAW (run as root or grant the capability)", ifi.Name, err)
		}
		return nil, fmt.Errorf("open AF_PACKET socket for interface %q: %w", ifi.Name, err)
	}
	c := &conn{ifi: ifi, proto: htons(unix.ETH_P_ARP)}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: c.proto, Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.ENODEV) {
			return nil, fmt.Errorf("bind AF_PACKET socket to interface %q: %w: the interface disappeared", ifi.Name, err)
		}
		return nil, fmt.Errorf("bind AF_PACKET socket to interface %q: %w", ifi.Name, err)
	}
	c.f = os.NewFile(uintptr(fd), "packet:"+ifi.Name)
	if c.rc, err = c.f.SyscallConn(); err != nil {
		c.f.Close()
		return nil, fmt.Errorf("AF_PACKET socket for interface %q: %w", ifi.Name, err)
	}
	return c, nil
}

func (c *conn) Close() error { return c.f.Close() }

// send writes one complete Ethernet frame to the interface.
func (c *conn) send(b []byte) error {
	sa := &unix.SockaddrLinklayer{Protocol: c.proto, Ifindex: c.ifi.Index, Halen: 6}
	copy(sa.Addr[:], b[0:6])
	var serr error
	err := c.rc.Write(func(fd uintptr) bool {
		for {
			serr = unix.Sendto(int(fd), b, 0, sa)
			if serr != unix.EINTR {
				return serr != unix.EAGAIN
			}
		}
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		if errors.Is(err, unix.ENETDOWN) {
			return fmt.Errorf("send ARP on interface %q: %w: bring it up first (ip link set dev %s up)", c.ifi.Name, err, c.ifi.Name)
		}
		return fmt.Errorf("send ARP on interface %q: %w", c.ifi.Name, err)
	}
	return nil
}

// recv reads one frame into b. It returns os.ErrDeadlineExceeded when the read
// deadline passes first.
func (c *conn) recv(b []byte) (int, error) {
	var (
		n    int
		rerr error
	)
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			n, _, rerr = unix.Recvfrom(int(fd), b, 0)
			if rerr != unix.EINTR {
				return rerr != unix.EAGAIN
			}
		}
	})
	if err == nil {
		err = rerr
	}
	return n, err
}

func (c *conn) setReadDeadline(t time.Time) error { return c.f.SetReadDeadline(t) }
