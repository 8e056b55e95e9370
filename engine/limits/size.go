package limits

import (
	"fmt"
	"math"
	"math/big"
	"strconv"

	units "github.com/docker/go-units"
)

// sizeFix is the fix of every ParseSize refusal.
const sizeFix = "write a size like 512M, 2G or 2GiB (K, M, G, T; with or without B/iB, all binary like docker: 1G = 1GB = 1GiB = 1024 MiB)"

type sizeUnit struct {
	name string
	n    uint64
}

// sizeUnits are the units FormatSize writes, largest first (go-units'
// binary table).
func sizeUnits() []sizeUnit {
	return []sizeUnit{{"TiB", units.TiB}, {"GiB", units.GiB}, {"MiB", units.MiB}, {"KiB", units.KiB}}
}

// ParseSize reads a size in bytes as a person writes it: "2G", "2g",
// "2GB", "2GiB", "2048M", "1.5G", "512 MiB" or plain bytes "1073741824".
// K, M, G and T are binary whatever their spelling (docker's RAMInBytes
// table), so "2GB" is 2 GiB. It refuses what is not exactly a positive
// whole number of bytes that fits an int64: "", "0", "-1G", "NaN", "Inf",
// "2X", "2GG", "2G junk", "1P", "9999999T", "1.3G" (1395864371.2 bytes).
// Zero is refused too: to mean "none" or "unlimited", leave the value out.
// The error names field and value, the rule and the fix, and wraps
// ErrInvalid.
func ParseSize(field, s string) (int64, error) {
	v := strconv.Quote(s)
	num, unit, rule := splitNumber(s)
	if rule != "" {
		return 0, invalid(field, v, rule, sizeFix)
	}
	mult := uint64(1)
	if unit != "" {
		// go-units decides what a unit is (k, m, g, t, p; then nothing, b
		// or ib; any case; or b alone) and what it is worth.
		m, err := units.RAMInBytes("1" + unit)
		if err != nil || m <= 0 {
			return 0, invalid(field, v, fmt.Sprintf("unknown unit %q", unit), sizeFix)
		}
		if m > units.TiB {
			return 0, invalid(field, v, fmt.Sprintf("unit %q is larger than any container's size", unit), sizeFix)
		}
		mult = uint64(m)
	}
	r := exact(num, mult)
	switch {
	case r.Sign() == 0:
		return 0, invalid(field, v, "zero", "give a size above zero, or leave it out for the default (none or unlimited where that is the default); "+sizeFix)
	case !r.IsInt():
		return 0, invalid(field, v, fmt.Sprintf("%s bytes is not a whole number of bytes", r.FloatString(2)), smallerUnitFix(r, mult))
	case !r.Num().IsInt64():
		return 0, invalid(field, v, "more than the largest size, 8 EiB", sizeFix)
	}
	return r.Num().Int64(), nil
}

// smallerUnitFix suggests r (bytes, not whole) written in the next smaller
// unit than mult, rounded down: 1.3G is "1331M".
func smallerUnitFix(r *big.Rat, mult uint64) string {
	for _, u := range []struct {
		suffix string
		n      uint64
	}{{"G", units.GiB}, {"M", units.MiB}, {"K", units.KiB}, {"", 1}} {
		if u.n >= mult {
			continue
		}
		q := new(big.Int).Quo(r.Num(), new(big.Int).Mul(r.Denom(), new(big.Int).SetUint64(u.n)))
		if q.Sign() > 0 {
			return fmt.Sprintf("write it in a smaller unit, rounded: e.g. %q", q.String()+u.suffix)
		}
	}
	return "write a whole number of bytes; " + sizeFix
}

// FormatSize writes bytes exactly, in the largest binary unit that takes at
// most two decimals: "256 MiB", "2 GiB", "1.5 GiB", "1025 MiB", "1000 B".
// Nothing is rounded away (256 MiB is never "0.25 GiB" or "0 GiB"; 1 GiB +
// 1 byte is "1073741825 B"). ParseSize reads every result back.
func FormatSize(bytes int64) string {
	if bytes < 0 {
		return "-" + formatSize(uint64(-(bytes+1))+1)
	}
	return formatSize(uint64(bytes))
}

func formatSize(b uint64) string {
	for _, u := range sizeUnits() {
		if b < u.n {
			continue
		}
		if s, ok := decimal(b/u.n, b%u.n, u.n, 2); ok {
			return s + " " + u.name
		}
	}
	return strconv.FormatUint(b, 10) + " B"
}

// approxSize writes a byte count (a sum or a ceiling, not a value someone
// wrote) with one decimal: "24.0 GiB", "512.0 MiB".
func approxSize(b float64) string {
	for _, u := range sizeUnits() {
		if math.Abs(b) >= float64(u.n) {
			return fmt.Sprintf("%.1f %s", b/float64(u.n), u.name)
		}
	}
	return fmt.Sprintf("%.0f B", b)
}

// approxPair writes a and b with approxSize, or exactly with FormatSize when
// the rounding would make them look equal (a total just past a ceiling).
func approxPair(a, b int64) (string, string) {
	sa, sb := approxSize(float64(a)), approxSize(float64(b))
	if a != b && sa == sb {
		return FormatSize(a), FormatSize(b)
	}
	return sa, sb
}

// spell writes a byte count as a ParseSize input in the largest unit that
// divides it: "64M", "16T", "1000".
func spell(b int64) string {
	for _, u := range []struct {
		suffix string
		n      int64
	}{{"T", units.TiB}, {"G", units.GiB}, {"M", units.MiB}, {"K", units.KiB}} {
		if b != 0 && b%u.n == 0 {
			return strconv.FormatInt(b/u.n, 10) + u.suffix
		}
	}
	return strconv.FormatInt(b, 10)
}

// mib writes a byte count as a ParseSize input in MiB: "953M".
func mib(b int64) string { return strconv.FormatInt(b>>20, 10) + "M" }
