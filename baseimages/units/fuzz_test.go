package units

import (
	"strings"
	"testing"
	"time"
)

// Fuzz targets: parsing never panics and never hangs on any input.

func FuzzParseUnit(f *testing.F) {
	for _, s := range []string{"[Service]\nExecStart=/bin/x 'a b' \\\n c\n", "[Unit]\nDescription=%n %i\n[Timer]\nOnCalendar=daily\n",
		"[Service]\nType=oneshot\nExecStart=-@/bin/x y ; /bin/z \"q\\x41\"\nLimitNOFILE=1:2\nEnvironment=\"A=1 2\"\n"} {
		f.Add("x@i.service", s)
		f.Add("x.timer", s)
	}
	f.Fuzz(func(t *testing.T, name, src string) {
		_, _ = Parse(name, "/f", strings.NewReader(src))
	})
}

func FuzzCalendar(f *testing.F) {
	for _, s := range []string{"daily", "Mon..Fri *-*-* 6,18:00", "*-02~03", "*-05~07/1", "2026..2027-1/2-1,15 */3:0/15:30 UTC", "@0"} {
		f.Add(s)
	}
	base := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCalendar(s)
		if err != nil {
			return
		}
		n := c.Next(base)
		if !n.IsZero() && !n.After(base) {
			t.Fatalf("%q: Next(%v) = %v, not after", s, base, n)
		}
		if _, err := ParseCalendar(c.String()); err != nil {
			t.Fatalf("%q: its normal form %q does not parse: %v", s, c.String(), err)
		}
	})
}

func FuzzLimitsConf(f *testing.F) {
	f.Add("* soft nofile 1024\n@g - nproc unlimited\n1000: hard core 0\nu -\n")
	f.Fuzz(func(t *testing.T, s string) {
		rules, _ := ParseLimitsConf(strings.NewReader(s), "f")
		_ = LimitsForUser(rules, LimitUser{Name: "u", UID: 1000, GID: 1000, Groups: []string{"g"}, GIDs: []int{1000}})
	})
}
