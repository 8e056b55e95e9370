package limits

import (
	"errors"
	"math"
	"strings"
	"testing"

	units "github.com/docker/go-units"
)

func TestParseSize(t *testing.T) {
	const (
		k = int64(1) << 10
		m = int64(1) << 20
		g = int64(1) << 30
		T = int64(1) << 40
	)
	for _, c := range []struct {
		in   string
		want int64  // when err == ""
		err  string // a part of the error
	}{
		// good
		{in: "2G", want: 2 * g},
		{in: "2GiB", want: 2 * g},
		{in: "2GB", want: 2 * g},
		{in: "2g", want: 2 * g},
		{in: "2gb", want: 2 * g},
		{in: "2Gb", want: 2 * g},
		{in: "2048M", want: 2 * g},
		{in: "512m", want: 512 * m},
		{in: "512MiB", want: 512 * m},
		{in: "1.5G", want: 3 * g / 2},
		{in: "0.5G", want: 512 * m},
		{in: ".5G", want: 512 * m},
		{in: "1073741824", want: g},
		{in: "1073741824b", want: g},
		{in: "1073741824B", want: g},
		{in: "512 MiB", want: 512 * m},
		{in: "4k", want: 4 * k},
		{in: "4KiB", want: 4 * k},
		{in: "1T", want: T},
		{in: "1.25T", want: 5 * T / 4},
		{in: "007M", want: 7 * m},
		{in: "9007199254740993", want: 9007199254740993}, // past 2^53: exact, where float64 rounds
		{in: "9223372036854775807", want: math.MaxInt64},
		{in: "8388607T", want: 8388607 * T},
		// bad
		{in: "", err: `--memory "": empty: write a size like 512M, 2G or 2GiB`},
		{in: "0", err: `--memory "0": zero: give a size above zero`},
		{in: "0G", err: `zero`},
		{in: "0.0M", err: `zero`},
		{in: "-1G", err: `--memory "-1G": negative`},
		{in: "-1", err: `negative`},
		{in: "NaN", err: `--memory "NaN": not a number`},
		{in: "Inf", err: `not a number`},
		{in: "+Inf", err: `not a number`},
		{in: "-Inf", err: `negative`},
		{in: "G", err: `not a number`},
		{in: "2X", err: `--memory "2X": unknown unit "X": write a size like 512M, 2G or 2GiB (K, M, G, T; with or without B/iB, all binary like docker: 1G = 1GB = 1GiB = 1024 MiB)`},
		{in: "2GG", err: `unknown unit "GG"`},
		{in: "2Gi", err: `unknown unit "Gi"`},
		{in: "2GiBB", err: `unknown unit "GiBB"`},
		{in: "2G junk", err: `unexpected " junk" after "2G"`},
		{in: "2G ", err: `unexpected " " after "2G"`},
		{in: " 2G", err: `not a number`},
		{in: "2  G", err: `unexpected "  G" after "2"`},
		{in: "2G2", err: `unexpected "2" after "2G"`},
		{in: "1.2.3G", err: `more than one decimal point`},
		{in: "1e3", err: `unexpected "3" after "1e"`},
		{in: "0x10", err: `unexpected "10" after "0x"`},
		{in: "+2G", err: `not a number`},
		{in: "1P", err: `unit "P" is larger than any container's size`},
		{in: "1PiB", err: `unit "PiB"`},
		{in: "8388608T", err: `more than the largest size, 8 EiB`},
		{in: "9223372036854775808", err: `more than the largest size`},
		{in: "99999999999999999999999999999999999", err: `more than 32 digits`},
		{in: "1.3G", err: `--memory "1.3G": 1395864371.20 bytes is not a whole number of bytes: write it in a smaller unit, rounded: e.g. "1331M"`},
		{in: "0.3K", err: `e.g. "307"`},
		{in: "1.5", err: `not a whole number of bytes: write a whole number of bytes`},
		{in: "2 X", err: `unknown unit "X"`},
	} {
		got, err := ParseSize("--memory", c.in)
		if c.err == "" {
			if err != nil || got != c.want {
				t.Errorf("ParseSize(%q) = %d, %v; want %d", c.in, got, err, c.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error with %q", c.in, got, c.err)
			continue
		}
		if !strings.Contains(err.Error(), c.err) || !errors.Is(err, ErrInvalid) || errors.Is(err, ErrOvercommit) {
			t.Errorf("ParseSize(%q) error %q: want it to contain %q and wrap ErrInvalid only", c.in, err, c.err)
		}
		var e *Error
		if !errors.As(err, &e) || e.Field != "--memory" || e.Value == "" || e.Rule == "" || e.Fix == "" {
			t.Errorf("ParseSize(%q) error %#v: want an *Error with field, value, rule and fix", c.in, e)
		}
	}
}

// TestParseSizeAgreesWithGoUnits: where go-units' float arithmetic is exact
// and both accept, both read the same bytes: this package takes go-units'
// rules for the units.
func TestParseSizeAgreesWithGoUnits(t *testing.T) {
	for _, s := range []string{"2G", "2GiB", "2GB", "2g", "2048M", "512m", "1.5G", "1073741824", "4k", "4KB", "1T", "1.25t", "7b", "512 MiB", "3 GB"} {
		ours, err := ParseSize("size", s)
		if err != nil {
			t.Fatalf("ParseSize(%q): %v", s, err)
		}
		theirs, err := units.RAMInBytes(s)
		if err != nil || theirs != ours {
			t.Errorf("ParseSize(%q) = %d, go-units RAMInBytes = %d, %v", s, ours, theirs, err)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for _, c := range []struct {
		in   int64
		want string
	}{
		{0, "0 B"},
		{1, "1 B"},
		{1000, "1000 B"},
		{1024, "1 KiB"},
		{1536, "1.5 KiB"},
		{256 << 20, "256 MiB"},
		{512 << 20, "512 MiB"}, // not "0.5 GiB": the largest unit it reaches
		{1 << 30, "1 GiB"},
		{2 << 30, "2 GiB"},
		{3 << 29, "1.5 GiB"},
		{5 << 28, "1.25 GiB"},
		{9 << 27, "1152 MiB"}, // 1.125 GiB needs three decimals
		{1<<30 + 1<<20, "1025 MiB"},
		{1<<30 + 1, "1073741825 B"},
		{1 << 40, "1 TiB"},
		{1 << 50, "1024 TiB"},
		{math.MaxInt64, "9223372036854775807 B"},
		{-(2 << 30), "-2 GiB"},
		{math.MinInt64, "-8388608 TiB"},
	} {
		if got := FormatSize(c.in); got != c.want {
			t.Errorf("FormatSize(%d) = %q, want %q", c.in, got, c.want)
		}
		if c.in > 0 {
			if back, err := ParseSize("size", FormatSize(c.in)); err != nil || back != c.in {
				t.Errorf("ParseSize(FormatSize(%d) = %q) = %d, %v", c.in, FormatSize(c.in), back, err)
			}
		}
	}
}
