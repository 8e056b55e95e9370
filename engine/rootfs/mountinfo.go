package rootfs

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	Major, Minor uint32
	Mountpoint   string
	FSType       string
	Source       string
	SuperOpts    string
}

// readMountinfo parses /proc/self/mountinfo.
func readMountinfo() ([]mountEntry, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseMountinfo(f)
}

// parseMountinfo parses the mountinfo format (proc(5)):
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
func parseMountinfo(r io.Reader) ([]mountEntry, error) {
	var out []mountEntry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			return nil, fmt.Errorf("mountinfo: short line %q", sc.Text())
		}
		sep := -1
		for i := 6; i < len(fields); i++ {
			if fields[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+3 > len(fields) {
			return nil, fmt.Errorf("mountinfo: no separator in %q", sc.Text())
		}
		majmin := strings.SplitN(fields[2], ":", 2)
		if len(majmin) != 2 {
			return nil, fmt.Errorf("mountinfo: bad major:minor %q", fields[2])
		}
		major, err1 := strconv.ParseUint(majmin[0], 10, 32)
		minor, err2 := strconv.ParseUint(majmin[1], 10, 32)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("mountinfo: bad major:minor %q", fields[2])
		}
		e := mountEntry{
			Major:      uint32(major),
			Minor:      uint32(minor),
			Mountpoint: UnescapeOctal(fields[4]),
			FSType:     UnescapeOctal(fields[sep+1]),
			Source:     UnescapeOctal(fields[sep+2]),
		}
		if sep+3 < len(fields) {
			e.SuperOpts = fields[sep+3]
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// unescapeOctal undoes the kernel's \ooo escaping of space, tab, newline and backslash.
func UnescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// topMount returns the topmost (last listed) mount at path, if any.
func topMount(mounts []mountEntry, path string) (mountEntry, bool) {
	for i := len(mounts) - 1; i >= 0; i-- {
		if mounts[i].Mountpoint == path {
			return mounts[i], true
		}
	}
	return mountEntry{}, false
}

// superOpt returns the value of key=value in a comma-separated option string.
func superOpt(opts, key string) (string, bool) {
	for _, o := range strings.Split(opts, ",") {
		if v, ok := strings.CutPrefix(o, key+"="); ok {
			return UnescapeOctal(v), true
		}
	}
	return "", false
}
