package units

import (
	"bufio"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Berlin and America/New_York without the host's zoneinfo
)

// TestCalendarAgainstSystemd replays testdata/calendar.golden, recorded
// from systemd-analyze calendar (systemd 252) by testdata/gen-calendar.py:
// the normalized form and the next five elapses from three base times (one
// at each 2026 DST change) in UTC and Europe/Berlin.
func TestCalendarAgainstSystemd(t *testing.T) {
	f, err := os.Open("testdata/calendar.golden")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Accepted by systemd, refused here on purpose.
	refused := map[string]bool{"*-*-* *:*:0.5": true}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) != 5 {
			t.Fatalf("bad golden line %q", sc.Text())
		}
		tz, baseS, expr, norm, elapses := cols[0], cols[1], cols[2], cols[3], cols[4]
		n++
		loc, err := time.LoadLocation(tz)
		if err != nil {
			t.Fatal(err)
		}
		base, _ := strconv.ParseInt(baseS, 10, 64)
		c, err := ParseCalendar(expr)
		if refused[expr] {
			var ue *UnsupportedError
			if !errors.As(err, &ue) {
				t.Errorf("%q: want an UnsupportedError, got %v", expr, err)
			}
			continue
		}
		if norm == "ERROR" {
			if err == nil {
				t.Errorf("%q: systemd refuses it, ParseCalendar accepted it as %q", expr, c)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", expr, err)
			continue
		}
		if got := c.String(); got != norm {
			t.Errorf("%q: String() = %q, systemd normalizes to %q", expr, got, norm)
		}
		at := time.Unix(base, 0).In(loc)
		var got []string
		for i := 0; i < 5; i++ {
			next := c.Next(at)
			if next.IsZero() {
				break
			}
			got = append(got, strconv.FormatInt(next.Unix(), 10))
			at = next
		}
		if g := strings.Join(got, ","); g != elapses && !(g == "" && elapses == "never") {
			t.Errorf("%s %q from %s:\n got  %s\n want %s", tz, expr, time.Unix(base, 0).In(loc), fmtUnix(g, loc), fmtUnix(elapses, loc))
		}
	}
	if n < 100 {
		t.Fatalf("only %d golden lines", n)
	}
}

func fmtUnix(list string, loc *time.Location) string {
	var out []string
	for _, s := range strings.Split(list, ",") {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			out = append(out, s)
			continue
		}
		out = append(out, time.Unix(n, 0).In(loc).Format("Mon 2006-01-02 15:04:05 MST"))
	}
	return strings.Join(out, ", ")
}

func TestCalendarNextStrictlyAfter(t *testing.T) {
	c, err := ParseCalendar("daily")
	if err != nil {
		t.Fatal(err)
	}
	mid := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	if got := c.Next(mid); !got.Equal(mid.Add(24 * time.Hour)) {
		t.Errorf("Next(midnight) = %v, want the next midnight", got)
	}
	if got := c.Next(mid.Add(-time.Nanosecond)); !got.Equal(mid) {
		t.Errorf("Next(just before midnight) = %v, want midnight", got)
	}
	var zero Calendar
	if got := zero.Next(mid); !got.Equal(mid.Add(time.Second)) {
		t.Errorf("zero Calendar Next = %v, want every second", got)
	}
}
