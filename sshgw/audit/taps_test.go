package audit

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/fatbox/fatbox/test/harness"
)

const sftpServer = "/usr/lib/openssh/sftp-server"

// TestMain makes the test binary also the "ssh" that the real scp and sftp
// clients run (-S / -D): it runs the remote side (sftp-server, or scp -t/-f
// through sh) locally and tees both directions of the channel into files,
// the bytes a gateway's tap would see.
func TestMain(m *testing.M) {
	if dir := os.Getenv("FATBOX_TAP_DIR"); dir != "" {
		os.Exit(teeChannel(dir, os.Args[1:]))
	}
	os.Exit(m.Run())
}

func teeChannel(dir string, args []string) int {
	var cmd *exec.Cmd
	last := ""
	if len(args) > 0 {
		last = args[len(args)-1]
	}
	switch {
	case len(args) == 0, last == "sftp" && slices.Contains(args, "-s"):
		cmd = exec.Command(sftpServer)
		last = "sftp"
	default:
		cmd = exec.Command("sh", "-c", last)
	}
	_ = os.WriteFile(filepath.Join(dir, "command"), []byte(last), 0o600)
	// One log of chunks in the order they passed, each logged before it
	// is forwarded, so an answer is never logged before its request.
	logf, _ := os.Create(filepath.Join(dir, "log"))
	var mu sync.Mutex
	logChunk := func(dirn byte, p []byte) {
		mu.Lock()
		defer mu.Unlock()
		h := []byte{dirn, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(h[1:], uint32(len(p)))
		logf.Write(h)
		logf.Write(p)
	}
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 255
	}
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := os.Stdin.Read(buf)
			if n > 0 {
				logChunk('c', buf[:n])
				in.Write(buf[:n])
			}
			if err != nil {
				in.Close()
				return
			}
		}
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := out.Read(buf)
		if n > 0 {
			logChunk('s', buf[:n])
			os.Stdout.Write(buf[:n])
		}
		if err != nil {
			break
		}
	}
	err := cmd.Wait()
	logf.Close()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return 0
}

// channel runs a real OpenSSH client command whose "ssh" is the tee above
// and returns the remote command and both directions' bytes.
func channel(t *testing.T, name string, args ...string) (command string, log []byte) {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "FATBOX_TAP_DIR="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
	read := func(f string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return string(read("command")), read("log")
}

// feed writes b in random-sized pieces (1 byte to 64 KiB), as reads from a
// connection arrive.
func feed(w io.Writer, b []byte) {
	for len(b) > 0 {
		n := min(len(b), 1+mrand.IntN(1<<mrand.IntN(17)))
		_, _ = w.Write(b[:n])
		b = b[n:]
	}
}

type tapper interface {
	ClientToServer() io.Writer
	ServerToClient() io.Writer
	Close()
	Err() error
}

// replay feeds a captured exchange to a tap the way a gateway would: the
// chunks in the order they passed, each cut again at random.
func replay(t *testing.T, tap tapper, log []byte) {
	t.Helper()
	for len(log) >= 5 {
		n := binary.BigEndian.Uint32(log[1:5])
		w := tap.ClientToServer()
		if log[0] == 's' {
			w = tap.ServerToClient()
		}
		feed(w, log[5:5+n])
		log = log[5+n:]
	}
	if err := tap.Err(); err != nil {
		t.Fatalf("tap stopped: %v", err)
	}
	tap.Close()
}

func requireClients(t *testing.T) {
	t.Helper()
	for _, b := range []string{"scp", "sftp", sftpServer} {
		_, err := exec.LookPath(b)
		harness.Require(t, err == nil, "%s (apt install openssh-client openssh-sftp-server)", b)
	}
}

func randomFile(t *testing.T, dir, name string, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func self(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// TestSFTPTapRealClient: OpenSSH's sftp and its default (sftp-protocol)
// scp, both ways, against the real sftp-server; the tap reports each file
// with its path and exact size.
func TestSFTPTapRealClient(t *testing.T) {
	requireClients(t)
	src, dst := t.TempDir(), t.TempDir()
	up := randomFile(t, src, "up.bin", 3<<20+17)
	down := randomFile(t, dst, "down.bin", 1<<20+5)

	batch := filepath.Join(src, "batch")
	os.WriteFile(batch, []byte(fmt.Sprintf("put %s %s/put.bin\nget %s %s/got.bin\nrm %s/put.bin\nrename %s %s/moved.bin\n",
		up, dst, down, src, dst, down, dst)), 0o600)
	cases := []struct {
		name string
		args []string
		want []Transfer
	}{
		{"sftp", []string{"-D", self(t), "-b", batch}, []Transfer{
			{Path: dst + "/put.bin", Direction: Upload, Bytes: 3<<20 + 17},
			{Path: down, Direction: Download, Bytes: 1<<20 + 5},
			{Path: dst + "/put.bin", Direction: Remove},
			{Path: down + " -> " + dst + "/moved.bin", Direction: Rename},
		}},
		{"scp-upload", []string{"-S", self(t), up, "h:" + dst + "/scp.bin"}, []Transfer{
			{Path: dst + "/scp.bin", Direction: Upload, Bytes: 3<<20 + 17},
		}},
		{"scp-download", []string{"-S", self(t), "h:" + dst + "/scp.bin", src + "/back.bin"}, []Transfer{
			{Path: dst + "/scp.bin", Direction: Download, Bytes: 3<<20 + 17},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bin := "scp"
			if c.name == "sftp" {
				bin = "sftp"
			}
			command, log := channel(t, bin, c.args...)
			if command != "sftp" {
				t.Fatalf("%s ran %q, want the sftp subsystem", bin, command)
			}
			var got []Transfer
			tap := NewSFTP(func(tr Transfer) { got = append(got, tr) })
			replay(t, tap, log)
			check(t, got, c.want)
		})
	}
}

func check(t *testing.T, got, want []Transfer) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("transfers %+v, want %+v", got, want)
	}
	for i := range want {
		g := got[i]
		if g.Path != want[i].Path || g.Direction != want[i].Direction || g.Bytes != want[i].Bytes || g.Err != "" {
			t.Errorf("transfer %d: %+v, want %+v", i, g, want[i])
		}
		if g.Start.IsZero() || g.End.Before(g.Start) {
			t.Errorf("transfer %d: start %v end %v", i, g.Start, g.End)
		}
	}
}

// TestSCPTapRealClient: `scp -O` (the legacy protocol) both ways, a single
// file and a tree with -r, against the real remote scp.
func TestSCPTapRealClient(t *testing.T) {
	requireClients(t)
	src, dst := t.TempDir(), t.TempDir()
	a := randomFile(t, src, "a.bin", 2<<20+3)
	tree := filepath.Join(src, "tree")
	os.MkdirAll(filepath.Join(tree, "sub"), 0o755)
	randomFile(t, tree, "x", 10)
	randomFile(t, filepath.Join(tree, "sub"), "y", 70000)
	cases := []struct {
		name string
		args []string
		want []Transfer
	}{
		{"upload-to-file", []string{"-O", "-S", self(t), a, "h:" + dst + "/a.copy"}, []Transfer{
			{Path: dst + "/a.copy", Direction: Upload, Bytes: 2<<20 + 3}}},
		{"upload-to-dir", []string{"-O", "-p", "-S", self(t), a, "h:" + dst + "/"}, []Transfer{
			{Path: dst + "/a.bin", Direction: Upload, Bytes: 2<<20 + 3}}},
		{"upload-tree", []string{"-O", "-r", "-S", self(t), tree, "h:" + dst}, []Transfer{
			{Path: dst + "/tree/sub/y", Direction: Upload, Bytes: 70000},
			{Path: dst + "/tree/x", Direction: Upload, Bytes: 10}}},
		{"download", []string{"-O", "-S", self(t), "h:" + dst + "/a.copy", src + "/b"}, []Transfer{
			{Path: dst + "/a.copy", Direction: Download, Bytes: 2<<20 + 3}}},
		{"download-tree", []string{"-O", "-r", "-S", self(t), "h:" + dst + "/tree", src + "/t2"}, []Transfer{
			{Path: dst + "/tree/sub/y", Direction: Download, Bytes: 70000},
			{Path: dst + "/tree/x", Direction: Download, Bytes: 10}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			command, log := channel(t, "scp", c.args...)
			var got []Transfer
			tap := NewSCP(command, func(tr Transfer) { got = append(got, tr) })
			if tap == nil {
				t.Fatalf("command %q not taken for scp", command)
			}
			replay(t, tap, log)
			slices.SortFunc(got, func(a, b Transfer) int { return strings.Compare(a.Path, b.Path) })
			check(t, got, c.want)
		})
	}
}

func TestParseSCP(t *testing.T) {
	for _, c := range []struct {
		cmd         string
		up, dir, ok bool
		target      string
	}{
		{"scp -t /tmp/x", true, false, true, "/tmp/x"},
		{"scp -v -d -t -- /tmp/a b", false, false, false, ""},
		{"scp -v -d -t -- '/tmp/a b'", true, true, true, "/tmp/a b"},
		{"/usr/bin/scp -pr -f \"/srv/my dir\"", false, false, true, "/srv/my dir"},
		{"scp -t /tmp/", true, true, true, "/tmp/"},
		{"scp -f /tmp/*.log", false, false, true, "/tmp/*.log"},
		{"scp -t /x; rm -rf /", false, false, false, ""},
		{"rsync --server -e.LsfxC . /tmp", false, false, false, ""},
		{"scp -t -f /x", false, false, false, ""},
		{"scp -Z -t /x", false, false, false, ""},
	} {
		up, target, dir, ok := ParseSCP(c.cmd)
		if up != c.up || target != c.target || dir != c.dir || ok != c.ok {
			t.Errorf("ParseSCP(%q) = %v %q %v %v, want %v %q %v %v", c.cmd, up, target, dir, ok, c.up, c.target, c.dir, c.ok)
		}
	}
}

// sftpPacket builds one packet: type, then fields (uint32, uint64, string, []byte as a string).
func sftpPacket(typ byte, fs ...any) []byte {
	var body []byte
	body = append(body, typ)
	for _, f := range fs {
		switch v := f.(type) {
		case uint32:
			body = binary.BigEndian.AppendUint32(body, v)
		case uint64:
			body = binary.BigEndian.AppendUint64(body, v)
		case string:
			body = binary.BigEndian.AppendUint32(body, uint32(len(v)))
			body = append(body, v...)
		case []byte:
			body = binary.BigEndian.AppendUint32(body, uint32(len(v)))
			body = append(body, v...)
		}
	}
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// TestSFTPTapHandBuilt: refusals, a session cut with a file open, and
// garbage that stops the tap without failing the writer.
func TestSFTPTapHandBuilt(t *testing.T) {
	var got []Transfer
	tap := NewSFTP(func(tr Transfer) { got = append(got, tr) })
	c, s := tap.ClientToServer(), tap.ServerToClient()
	feed(c, sftpPacket(fxpInit, uint32(3)))
	feed(s, sftpPacket(2, uint32(3)))
	feed(c, sftpPacket(fxpOpen, uint32(1), "/etc/shadow", uint32(fxfRead), uint32(0)))
	feed(s, sftpPacket(fxpStatus, uint32(1), uint32(3), "Permission denied", ""))
	feed(c, sftpPacket(fxpOpen, uint32(2), "big", uint32(fxfWrite|0x8), uint32(0)))
	feed(s, sftpPacket(fxpHandle, uint32(2), "h0"))
	feed(c, sftpPacket(fxpWrite, uint32(3), "h0", uint64(0), make([]byte, 100000)))
	tap.Close()
	want := []Transfer{
		{Path: "/etc/shadow", Direction: Download, Err: "Permission denied"},
		{Path: "big", Direction: Upload, Bytes: 100000, Err: "the session ended with the file open"},
	}
	if len(got) != 2 || got[0].Path != want[0].Path || got[0].Err != want[0].Err || got[1].Bytes != want[1].Bytes || got[1].Err != want[1].Err || got[1].Direction != Upload {
		t.Errorf("got %+v, want %+v", got, want)
	}

	tap = NewSFTP(func(Transfer) {})
	if n, err := tap.ClientToServer().Write([]byte("SSH-2.0-OpenSSH_9.2\r\n")); n != 21 || err != nil {
		t.Errorf("the tap's writer failed on garbage: %d %v", n, err)
	}
	if tap.Err() == nil {
		t.Error("garbage did not stop the tap")
	}
}

// BenchmarkSFTPTapUpload: the tap's cost on a stream of 32 KiB WRITEs (what
// an upload is): per packet, not per byte. Compare its MB/s with a copy's.
func BenchmarkSFTPTapUpload(b *testing.B) {
	var stream []byte
	for i := 0; i < 64; i++ {
		stream = append(stream, sftpPacket(fxpWrite, uint32(10+i), "h0", uint64(i)<<15, make([]byte, 32<<10))...)
	}
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		tap := NewSFTP(func(Transfer) {})
		w := tap.ClientToServer()
		tap.ServerToClient().Write(sftpPacket(fxpHandle, uint32(1), "h0"))
		for p := stream; len(p) > 0; {
			n := min(len(p), 32<<10)
			w.Write(p[:n])
			p = p[n:]
		}
	}
}
