package rootfs

import (
	"strings"
	"testing"
)

func TestParseMountinfo(t *testing.T) {
	in := `22 27 0:21 / /proc rw,relatime - proc proc rw
101 27 7:3 / /var/lib/x\040y/disk rw,relatime shared:5 master:1 - ext4 /dev/loop3 rw
102 27 0:50 / /var/lib/x/rootfs rw,relatime - overlay overlay rw,lowerdir=/img,upperdir=/var/lib/x/disk/upper,workdir=/var/lib/x/disk/work
`
	ms, err := parseMountinfo(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 3 {
		t.Fatalf("got %d entries", len(ms))
	}
	m, ok := topMount(ms, "/var/lib/x y/disk")
	if !ok || m.Major != 7 || m.Minor != 3 || m.FSType != "ext4" || m.Source != "/dev/loop3" {
		t.Fatalf("disk entry: %+v ok=%v", m, ok)
	}
	m, ok = topMount(ms, "/var/lib/x/rootfs")
	if !ok || m.FSType != "overlay" {
		t.Fatalf("overlay entry: %+v ok=%v", m, ok)
	}
	if v, _ := superOpt(m.SuperOpts, "lowerdir"); v != "/img" {
		t.Fatalf("lowerdir %q", v)
	}
	if v, _ := superOpt(m.SuperOpts, "upperdir"); v != "/var/lib/x/disk/upper" {
		t.Fatalf("upperdir %q", v)
	}
	if _, err := parseMountinfo(strings.NewReader("1 2 3\n")); err == nil {
		t.Fatal("short line accepted")
	}
	if got := UnescapeOctal(`a\134b\011`); got != "a\\b\t" {
		t.Fatalf("unescape: %q", got)
	}
}
