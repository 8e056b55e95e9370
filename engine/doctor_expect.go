package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/ssh"

	"github.com/fatbox/fatbox/baseimages"
	"github.com/fatbox/fatbox/engine/firstboot"
	"github.com/fatbox/fatbox/engine/lxcfs"
	"github.com/fatbox/fatbox/inventory"
	"github.com/fatbox/fatbox/ipam"
)

// doctorExpect is what a container should look like, passed to `vmshim
// doctor --expect` as JSON: the protocol with tools/vmshim/doctor.go
// (doctorExpect there; both tests hold the same sample). A field the shim
// does not know is ignored by it, so only add fields.
type doctorExpect struct {
	Name        string `json:"name"`
	Pool        string `json:"pool"`
	IP          string `json:"ip"`
	PrefixLen   int    `json:"prefix_len"`
	Gateway     string `json:"gateway"`
	VCPUs       int    `json:"vcpus"`
	MemoryBytes int64  `json:"memory_bytes"`
	DiskBytes   int64  `json:"disk_bytes"`
	// HostKeys are the fingerprints of the host keys kept in the state
	// dir, by type (ed25519, ecdsa, rsa).
	HostKeys map[string]string `json:"host_keys"`
	// Ulimits are the record's, soft and hard, -1 for unlimited.
	Ulimits    map[string]doctorUlimit `json:"ulimits,omitempty"`
	HostTime   time.Time               `json:"host_time"`
	HostUptime float64                 `json:"host_uptime_seconds"`
	// Views are the files fatbox binds over /proc and /sys.
	Views []string `json:"views"`
	// Programs are the supervisord programs that start at boot (the
	// shim's init is checked apart).
	Programs []string `json:"programs"`
}

type doctorUlimit struct {
	Soft int64 `json:"soft"`
	Hard int64 `json:"hard"`
}

func (x doctorExpect) json() (string, error) {
	b, err := json.Marshal(x)
	if err != nil {
		return "", fmt.Errorf("doctor: %w", err)
	}
	return string(b), nil
}

// procViews are the files lxcfs virtualises under /proc, bound into every
// container while lxcfs runs.
func procViews() []string {
	return []string{"/proc/cpuinfo", "/proc/diskstats", "/proc/loadavg", "/proc/meminfo", "/proc/stat", "/proc/swaps", "/proc/uptime"}
}

// doctorExpect gathers the expectation of a running container from its
// record, its pool, its image, the host keys in its state dir and the
// host's clock.
func (e *Engine) doctorExpect(ctx context.Context, rec inventory.Record) (doctorExpect, error) {
	pool, _, err := e.IPAM.GetPool(ctx, rec.Pool)
	if err != nil && !errors.Is(err, ipam.ErrPoolNotFound) {
		return doctorExpect{}, fmt.Errorf("doctor of %q: read its pool %q: %w", rec.Name, rec.Pool, err)
	}
	progs := baseimages.DefaultPrograms()
	if img, err := e.Images.Inspect(rec.Image); err == nil {
		progs = baseimages.MergePrograms(progs, img.Programs)
	}
	keys, err := hostKeyFingerprints(filepath.Join(e.dir(rec.InstanceKey()), "ssh"))
	if err != nil {
		return doctorExpect{}, err
	}
	var views []string
	if e.LXCFS != nil {
		views = lxcfsViews(e.LXCFS)
	}
	for _, f := range cpuViewFiles() {
		views = append(views, f.target)
	}
	up, err := hostUptime()
	if err != nil {
		return doctorExpect{}, err
	}
	return expectOf(rec, pool, progs, keys, views, time.Now().UTC(), up), nil
}

// expectOf is the expectation's pure part.
func expectOf(rec inventory.Record, pool ipam.Pool, progs []baseimages.Program, keys map[string]string, views []string, now time.Time, uptime float64) doctorExpect {
	x := doctorExpect{Name: firstNonEmpty(rec.Hostname, rec.Name), Pool: rec.Pool, IP: rec.IP, VCPUs: rec.VCPUs, MemoryBytes: rec.MemoryMiB << 20, DiskBytes: rec.DiskMiB << 20,
		HostKeys: keys, HostTime: now, HostUptime: uptime}
	if x.VCPUs == 0 && rec.CPUs > 0 {
		x.VCPUs = int(math.Ceil(rec.CPUs))
	}
	if pool.CIDR.IsValid() {
		x.PrefixLen = pool.CIDR.Bits()
	}
	if pool.Gateway.IsValid() {
		x.Gateway = pool.Gateway.String()
	}
	for _, p := range progs {
		if p.Autostart && p.Name != firstboot.ShimInitProgram {
			x.Programs = append(x.Programs, p.Name)
		}
	}
	if len(rec.Ulimits) > 0 {
		x.Ulimits = map[string]doctorUlimit{}
		for n, u := range rec.Ulimits {
			x.Ulimits[n] = doctorUlimit{Soft: rlimitValue(u.Soft), Hard: rlimitValue(u.Hard)}
		}
	}
	// Each view once, in order (the CPU view replaces lxcfs's cpuinfo).
	seen := map[string]bool{}
	for _, v := range views {
		if !seen[v] {
			seen[v] = true
			x.Views = append(x.Views, v)
		}
	}
	sort.Strings(x.Views)
	return x
}

// rlimitValue is an rlimit as the shim reads it: RLIM_INFINITY is -1.
func rlimitValue(v uint64) int64 {
	if v > math.MaxInt64 {
		return -1
	}
	return int64(v)
}

// lxcfsViews are the files lxcfs's binds cover: those of its live mount,
// or, when it does not answer, the /proc files it should cover.
func lxcfsViews(m *lxcfs.Manager) []string {
	if m.Healthy() != nil {
		return procViews()
	}
	var out []string
	for _, mt := range lxcfs.Mounts(m.Dir) {
		out = append(out, mt.Destination)
	}
	if len(out) == 0 {
		return procViews()
	}
	return out
}

// hostKeyFingerprints reads the public host keys kept in dir (the state
// dir's ssh/) and returns their SHA256 fingerprints by type. It never
// makes a key: a container whose keys are missing fails its check.
func hostKeyFingerprints(dir string) (map[string]string, error) {
	out := map[string]string{}
	for _, typ := range []string{"ed25519", "ecdsa", "rsa"} {
		p := filepath.Join(dir, "ssh_host_"+typ+"_key.pub")
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("doctor: host key %q: %w", p, err)
		}
		k, _, _, _, err := ssh.ParseAuthorizedKey(b)
		if err != nil {
			return nil, fmt.Errorf("doctor: host key %q: %w", p, err)
		}
		out[typ] = ssh.FingerprintSHA256(k)
	}
	return out, nil
}

// hostUptime is the host's /proc/uptime in seconds.
func hostUptime() (float64, error) {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0, fmt.Errorf("doctor: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, errors.New("doctor: /proc/uptime is empty")
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0, fmt.Errorf("doctor: /proc/uptime: %w", err)
	}
	return v, nil
}

// doctorTextMax caps each text of a check from inside, in bytes.
const doctorTextMax = 1 << 10

// parseDoctorOutput reads `vmshim doctor`'s JSON report; every line is
// marked as run in the container. Its texts come from a process inside,
// which root in there could replace: each is cleaned (doctorText).
func parseDoctorOutput(b []byte) ([]DoctorCheck, error) {
	var raw []struct {
		Check  string `json:"check"`
		OK     bool   `json:"ok"`
		Detail string `json:"detail"`
		Fix    string `json:"fix"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("not a JSON report: %w", err)
	}
	if len(raw) == 0 {
		return nil, errors.New("an empty report")
	}
	out := make([]DoctorCheck, 0, len(raw))
	for _, r := range raw {
		name := doctorText(r.Check)
		if name == "" {
			return nil, errors.New("a check without a name")
		}
		c := DoctorCheck{Check: name, OK: r.OK, Detail: doctorText(r.Detail), Where: DoctorContainer}
		if !r.OK {
			c.Fix = doctorText(r.Fix)
		}
		out = append(out, c)
	}
	return out, nil
}

// doctorText is a text from inside a container made safe to print on the
// host: invalid UTF-8 replaced, tabs and line breaks made spaces, other
// control and format runes (ESC, bidi overrides, zero-width) dropped, and
// at most doctorTextMax bytes, cut at a rune with "…".
func doctorText(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return ' '
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	if len(s) <= doctorTextMax {
		return s
	}
	const more = "…"
	cut := doctorTextMax - len(more)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + more
}
