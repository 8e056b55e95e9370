package runtime

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/fatbox/fatbox/test/harness"
)

func TestSpecBlockIO(t *testing.T) {
	s, err := Spec(SpecConfig{Name: "web-01", Rootfs: "/r", Netns: "/n", Supervisor: "/s",
		Limits: Limits{Disk: &BlockDevice{Major: 7, Minor: 3}, ReadBps: 50 << 20, WriteIOPS: 300}})
	if err != nil {
		t.Fatal(err)
	}
	io := s.Linux.Resources.BlockIO
	if io == nil || len(io.ThrottleReadBpsDevice) != 1 || len(io.ThrottleWriteIOPSDevice) != 1 ||
		io.ThrottleWriteBpsDevice != nil || io.ThrottleReadIOPSDevice != nil {
		t.Fatalf("blkio: %+v", io)
	}
	r, w := io.ThrottleReadBpsDevice[0], io.ThrottleWriteIOPSDevice[0]
	if r.Major != 7 || r.Minor != 3 || r.Rate != 50<<20 || w.Major != 7 || w.Minor != 3 || w.Rate != 300 {
		t.Fatalf("throttles: read %+v write %+v", r, w)
	}
	if _, err := Spec(SpecConfig{Name: "web-01", Rootfs: "/r", Netns: "/n", Supervisor: "/s", Limits: Limits{ReadBps: 1}}); err == nil ||
		!strings.Contains(err.Error(), "disk") {
		t.Fatalf("IO limit without a disk: %v", err)
	}
}

// TestDiskIOThrottle: blkio throttles on a loop device of the container's
// own slow its direct reads (bytes/s) and writes (IOPS) down to the limits.
func TestDiskIOThrottle(t *testing.T) {
	harness.RequireRoot(t)
	_, err := exec.LookPath("losetup")
	harness.Require(t, err == nil, "losetup (util-linux)")
	_, err = os.Stat("/sys/fs/cgroup/blkio")
	harness.Require(t, err == nil, "the cgroup v1 blkio hierarchy at /sys/fs/cgroup/blkio (disk IO limits are blkio throttles)")
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 64<<20); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "--find", "--show", img).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup %q: %v %s", img, err, out)
	}
	loop := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", loop).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %q: %v %s", loop, err, out)
		}
	})
	var st unix.Stat_t
	if err := unix.Stat(loop, &st); err != nil {
		t.Fatal(err)
	}
	maj, min := int64(unix.Major(uint64(st.Rdev))), int64(unix.Minor(uint64(st.Rdev)))

	const (
		readBps   = 10 << 20 // 20 MiB at 10 MiB/s: 2 s
		readMiB   = 20
		writeIOPS = 50 // 100 writes of 64 KiB at 50/s: 2 s
		writes    = 100
	)
	b := startFat(t, fatOpts{
		limits: Limits{Disk: &BlockDevice{Major: maj, Minor: min}, ReadBps: readBps, WriteIOPS: writeIOPS},
		edit: func(s *specs.Spec) { // the device in the container, for this test only
			mode := os.FileMode(0o660)
			uid, gid := uint32(0), uint32(0)
			s.Linux.Devices = append(s.Linux.Devices, specs.LinuxDevice{Path: "/dev/fbdisk", Type: "b", Major: maj, Minor: min,
				FileMode: &mode, UID: &uid, GID: &gid})
			s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: "b",
				Major: &maj, Minor: &min, Access: "rw"})
		},
	})
	cg, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/blkio/fatbox", b.name, "blkio.throttle.read_bps_device"))
	if err != nil || strings.TrimSpace(string(cg)) != fmt.Sprintf("%d:%d %d", maj, min, readBps) {
		t.Fatalf("blkio.throttle.read_bps_device: %v %q", err, cg)
	}

	dd := func(args ...string) time.Duration {
		t.Helper()
		start := time.Now()
		out, err := b.exec(append([]string{"dd"}, args...)...)
		if err != nil {
			t.Fatalf("dd %v: %v %s", args, err, out)
		}
		return time.Since(start)
	}
	read := dd("if=/dev/fbdisk", "of=/dev/null", "bs=1M", fmt.Sprintf("count=%d", readMiB), "iflag=direct")
	write := dd("if=/dev/zero", "of=/dev/fbdisk", "bs=64k", fmt.Sprintf("count=%d", writes), "oflag=direct")

	// The same on the host, unthrottled.
	start := time.Now()
	if out, err := exec.Command("dd", "if="+loop, "of=/dev/null", "bs=1M", fmt.Sprintf("count=%d", readMiB), "iflag=direct").CombinedOutput(); err != nil {
		t.Fatalf("dd on the host: %v %s", err, out)
	}
	host := time.Since(start)
	t.Logf("%d MiB direct read at %d MiB/s: %v (host %v); %d direct writes at %d IOPS: %v",
		readMiB, readBps>>20, read.Round(time.Millisecond), host.Round(time.Millisecond), writes, writeIOPS, write.Round(time.Millisecond))
	wantRead := time.Duration(float64(readMiB<<20) / readBps * float64(time.Second))
	wantWrite := time.Duration(float64(writes) / writeIOPS * float64(time.Second))
	if read < wantRead*7/10 || host > read/2 {
		t.Errorf("read took %v in the container (want ≥ %v) and %v on the host", read, wantRead*7/10, host)
	}
	if write < wantWrite*7/10 {
		t.Errorf("writes took %v (want ≥ %v)", write, wantWrite*7/10)
	}
}
