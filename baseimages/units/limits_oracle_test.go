package units

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestLimitsAgainstPAM replays testdata/limits.golden: what Debian 12's
// pam_limits really set (gen-limits.py opens a PAM session per
// testdata/limits/*.conf and user). The model: Debian's pam_limits starts
// every limit from PID 1's, applies the rules (LimitsForUser), lowers soft
// to hard, and the kernel refuses to raise a hard limit without
// CAP_SYS_RESOURCE (the recording host had none), leaving that limit as it
// was; a "<domain> -" line for the user leaves everything as it was.
func TestLimitsAgainstPAM(t *testing.T) {
	f, err := os.Open("testdata/limits.golden")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		var rec struct {
			Conf, User          string
			UID, GID            int
			Groups              []string
			Before, After, Init map[string][2]int64
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		n++
		b, err := os.ReadFile(filepath.Join("testdata/limits", rec.Conf))
		if err != nil {
			t.Fatal(err)
		}
		rules, _ := ParseLimitsConf(bytesReader(b), rec.Conf)
		// GIDs: the primary one is what the recorded ranges test.
		got := LimitsForUser(rules, LimitUser{Name: rec.User, UID: rec.UID, GID: rec.GID, Groups: rec.Groups, GIDs: []int{rec.GID}})
		for item, after := range rec.After {
			before := toRlimit(rec.Before[item])
			want := before
			if got != nil {
				want = toRlimit(rec.Init[item])
				if rl, ok := got[item]; ok {
					want = rl.Over(want)
				}
				if want.Soft > want.Hard {
					want.Soft = want.Hard
				}
				if want.Hard > before.Hard {
					want = before // EPERM: raising a hard limit
				}
			}
			if g := toRlimit(after); g != want {
				t.Errorf("%s %s %s: pam_limits set %v, the model says %v (rules %v)", rec.Conf, rec.User, item, g, want, got[item])
			}
		}
	}
	if n < 30 {
		t.Fatalf("only %d records", n)
	}
}

func toRlimit(v [2]int64) Rlimit {
	conv := func(x int64) uint64 {
		if x < 0 {
			return Infinity
		}
		return uint64(x)
	}
	return Rlimit{Soft: conv(v[0]), Hard: conv(v[1])}
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
