package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// doctorSys is what the doctor's checks ask of the system; the tests give
// a fake.
type doctorSys interface {
	ReadFile(path string) ([]byte, error)
	// Hostname is the kernel's (uname's nodename).
	Hostname() (string, error)
	// CPUs is how many CPUs this process may run on (nproc).
	CPUs() (int, error)
	// DiskSize is the size of the file system holding path (df).
	DiskSize(path string) (int64, error)
	// Addrs are an interface's addresses and whether it is up.
	Addrs(iface string) ([]netip.Prefix, bool, error)
	// Ping sends ICMP echo requests to ip until one is answered or
	// timeout passes.
	Ping(ip netip.Addr, timeout time.Duration) error
	// Banner connects to a TCP address and returns the first line it sends.
	Banner(addr string, timeout time.Duration) (string, error)
	// SendLog sends one datagram to a unix socket (syslog's /dev/log).
	SendLog(socket, msg string) error
	// Programs are supervisord's programs and their states.
	Programs() (map[string]docProgram, error)
	// LookPath is the file a login shell's PATH finds for name, with its
	// symlinks resolved.
	LookPath(name string) (string, error)
	// Stat follows symlinks.
	Stat(path string) (os.FileInfo, error)
	// Alive reports whether pid runs (not a zombie).
	Alive(pid int) bool
	Now() time.Time
}

// docLoginPath is the PATH a root login shell has in the fat images.
const docLoginPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// docSupervisordCtl is supervisord's status through its control socket.
var docSupervisordCtl = []string{"/.fatbox/supervisord", "ctl", "-s", "unix:///run/supervisord.sock", "status"}

type docLiveSys struct{}

func docRealSys() doctorSys { return docLiveSys{} }

func (docLiveSys) ReadFile(path string) ([]byte, error) { return os.ReadFile(path) }

func (docLiveSys) Hostname() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", err
	}
	return unix.ByteSliceToString(u.Nodename[:]), nil
}

func (docLiveSys) CPUs() (int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return 0, err
	}
	return set.Count(), nil
}

func (docLiveSys) DiskSize(path string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, err
	}
	return int64(st.Blocks) * st.Bsize, nil
}

func (docLiveSys) Addrs(iface string) ([]netip.Prefix, bool, error) {
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, false, err
	}
	as, err := ifc.Addrs()
	if err != nil {
		return nil, false, err
	}
	var out []netip.Prefix
	for _, a := range as {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p)
		}
	}
	return out, ifc.Flags&net.FlagUp != 0, nil
}

// Ping uses a raw ICMP socket (containers keep CAP_NET_RAW, as ping
// needs): an echo request every 250 ms, matched on its id and the source.
func (docLiveSys) Ping(ip netip.Addr, timeout time.Duration) error {
	if !ip.Is4() {
		return fmt.Errorf("%s is not an IPv4 address", ip)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
	if err != nil {
		return fmt.Errorf("open a raw ICMP socket: %w", err)
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval((50 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fmt.Errorf("raw ICMP socket: %w", err)
	}
	to := &unix.SockaddrInet4{Addr: ip.As4()}
	id := uint16(os.Getpid())
	buf := make([]byte, 1500)
	deadline := time.Now().Add(timeout)
	var lastErr error
	for seq := uint16(1); time.Now().Before(deadline); seq++ {
		if err := unix.Sendto(fd, docIcmpEcho(id, seq), 0, to); err != nil {
			lastErr = err
		}
		for next := time.Now().Add(250 * time.Millisecond); time.Now().Before(next); {
			n, from, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				continue // the receive timeout: wait on until the next send
			}
			f, ok := from.(*unix.SockaddrInet4)
			if !ok || netip.AddrFrom4(f.Addr) != ip || n < 20 {
				continue
			}
			ihl := int(buf[0]&0x0f) * 4
			if n < ihl+8 {
				continue
			}
			m := buf[ihl:n]
			if m[0] == 0 && binary.BigEndian.Uint16(m[4:6]) == id { // echo reply to us
				return nil
			}
		}
	}
	if lastErr != nil {
		return fmt.Errorf("no echo reply within %s (send: %v)", timeout, lastErr)
	}
	return fmt.Errorf("no echo reply within %s", timeout)
}

// docIcmpEcho is an ICMP echo request.
func docIcmpEcho(id, seq uint16) []byte {
	p := make([]byte, 16)
	p[0] = 8 // echo request
	binary.BigEndian.PutUint16(p[4:], id)
	binary.BigEndian.PutUint16(p[6:], seq)
	copy(p[8:], "fbdoctor")
	binary.BigEndian.PutUint16(p[2:], docInetChecksum(p))
	return p
}

// docInetChecksum is RFC 1071's.
func docInetChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func (docLiveSys) Banner(addr string, timeout time.Duration) (string, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil && line == "" {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func (docLiveSys) SendLog(socket, msg string) error {
	c, err := net.DialTimeout("unixgram", socket, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	_, err = c.Write([]byte(msg))
	return err
}

func (docLiveSys) Programs() (map[string]docProgram, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, docSupervisordCtl[0], docSupervisordCtl[1:]...)
	out, err := cmd.Output()
	ps := docParseStatus(string(out))
	if len(ps) == 0 {
		if err == nil {
			err = errors.New("it listed no program")
		}
		return nil, fmt.Errorf("`%s`: %w", strings.Join(docSupervisordCtl, " "), err)
	}
	return ps, nil // its exit code is not 0 while a program is stopped
}

func (docLiveSys) LookPath(name string) (string, error) {
	for _, dir := range filepath.SplitList(docLoginPath) {
		p := filepath.Join(dir, name)
		st, err := os.Stat(p)
		if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			continue
		}
		return filepath.EvalSymlinks(p)
	}
	return "", fmt.Errorf("%q is not on PATH (%s)", name, docLoginPath)
}

func (docLiveSys) Stat(path string) (os.FileInfo, error) { return os.Stat(path) }

func (docLiveSys) Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}

func (docLiveSys) Now() time.Time { return time.Now() }
