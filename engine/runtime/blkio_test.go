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

	// Each transfer runs unthrottled on the host and throttled in the
	// container, back to back. The throttle holds the container's below
	// the limit (a lower bound on its time that load cannot break), and the
	// host's unthrottled run shows the limit is what slowed it down (a
	// ratio measured here, not a speed this machine must reach).
	inBox := func(args ...string) time.Duration {
		t.Helper()
		start := time.Now()
		out, err := b.exec(append([]string{"dd"}, args...)...)
		if err != nil {
			t.Fatalf("dd %v in the container: %v %s", args, err, out)
		}
		return time.Since(start)
	}
	onHost := func(args ...string) time.Duration {
		t.Helper()
		start := time.Now()
		if out, err := exec.Command("dd", args...).CombinedOutput(); err != nil {
			t.Fatalf("dd %v on the host: %v %s", args, err, out)
		}
		return time.Since(start)
	}
	readArgs := func(dev string) []string {
		return []string{"if=" + dev, "of=/dev/null", "bs=1M", fmt.Sprintf("count=%d", readMiB), "iflag=direct"}
	}
	writeArgs := func(dev string) []string {
		return []string{"if=/dev/zero", "of=" + dev, "bs=64k", fmt.Sprintf("count=%d", writes), "oflag=direct"}
	}
	hostRead := onHost(readArgs(loop)...)
	read := inBox(readArgs("/dev/fbdisk")...)
	hostWrite := onHost(writeArgs(loop)...)
	write := inBox(writeArgs("/dev/fbdisk")...)
	t.Logf("%d MiB direct read at %d MiB/s: %v (host %v); %d direct writes at %d IOPS: %v (host %v)",
		readMiB, readBps>>20, read.Round(time.Millisecond), hostRead.Round(time.Millisecond),
		writes, writeIOPS, write.Round(time.Millisecond), hostWrite.Round(time.Millisecond))

	check := func(what string, took, host time.Duration, units, limit float64) {
		t.Helper()
		want := time.Duration(units / limit * float64(time.Second))
		rate := units / took.Seconds()
		switch {
		case took < want*7/10:
			t.Errorf("%s took %v in the container, want at least %v (the limit)", what, took, want*7/10)
		case host > took/2:
			t.Errorf("%s took %v unthrottled on the host and %v throttled: the throttle is not what slowed it", what, host, took)
		case rate < limit/4:
			t.Errorf("%s ran at %.1f/s in the container, want near the limit %.0f/s (at least a quarter)", what, rate, limit)
		}
	}
	check("the read", read, hostRead, readMiB<<20, readBps)
	check("the writes", write, hostWrite, writes, writeIOPS)
}
