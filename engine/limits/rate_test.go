package limits

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestParseRate(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint64
		err  string
	}{
		{in: "100mbit", want: 100e6},
		{in: "100Mbit", want: 100e6}, // as tc prints it
		{in: "1gbit", want: 1e9},
		{in: "1.5gbit", want: 1.5e9},
		{in: "500kbit", want: 500e3},
		{in: "1000bit", want: 1000},
		{in: "1000000", want: 1e6},
		{in: "2tbit", want: 2e12},
		{in: "0.001kbit", want: 1},
		{in: "18446744073709551615", want: math.MaxUint64},
		{in: "", err: `--net-rate "": empty: write a rate like 100mbit`},
		{in: "0", err: `--net-rate "0": zero: give a rate above zero, or leave it out for unlimited`},
		{in: "0mbit", err: "zero"},
		{in: "-100mbit", err: "negative"},
		{in: "NaN", err: "not a number"},
		{in: "Inf", err: "not a number"},
		{in: "100mbit junk", err: `unexpected " junk" after "100mbit"`},
		{in: "100mbitt", err: `unknown unit "mbitt"`},
		{in: "100M", err: `unknown unit "M"`},
		{in: "100mibit", err: `unknown unit "mibit"`},
		{in: "100mbps", err: `unit "mbps" is bytes per second in tc: write bits: 8 times the number with "bit" instead of "bps" (1mbps = 8mbit)`},
		{in: "0.5bit", err: "not a whole number of bits/s"},
		{in: "18446744073709551616", err: "more than the largest rate"},
		{in: "1e6", err: `unexpected "6" after "1e"`},
	} {
		got, err := ParseRate("--net-rate", c.in)
		if c.err == "" {
			if err != nil || got != c.want {
				t.Errorf("ParseRate(%q) = %d, %v; want %d", c.in, got, err, c.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.err) || !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseRate(%q) = %d, %v; want an ErrInvalid with %q", c.in, got, err, c.err)
		}
	}
}

func TestFormatRate(t *testing.T) {
	for _, c := range []struct {
		in   uint64
		want string
	}{
		{1, "1bit"},
		{999, "999bit"},
		{1000, "1kbit"},
		{64e3, "64kbit"},
		{100e6, "100mbit"},
		{1e9, "1gbit"},
		{1.5e9, "1.5gbit"},
		{1234567, "1234.567kbit"},
		{1e12, "1tbit"},
		{math.MaxUint64, "18446744073709551.615kbit"},
	} {
		if got := FormatRate(c.in); got != c.want {
			t.Errorf("FormatRate(%d) = %q, want %q", c.in, got, c.want)
		}
		if back, err := ParseRate("rate", FormatRate(c.in)); err != nil || back != c.in {
			t.Errorf("ParseRate(FormatRate(%d) = %q) = %d, %v", c.in, FormatRate(c.in), back, err)
		}
	}
}
