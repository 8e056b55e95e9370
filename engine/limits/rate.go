package limits

import (
	"fmt"
	"strconv"
	"strings"
)

// rateFix is the fix of every ParseRate refusal.
const rateFix = "write a rate like 100mbit, 1gbit or 500kbit (bit, kbit, mbit, gbit, tbit, any case; decimal like tc: 1mbit = 1000kbit; a plain number is bits/s)"

type rateUnit struct {
	name string
	n    uint64
}

// rateUnits are tc(8)'s bit rates, largest first.
func rateUnits() []rateUnit {
	return []rateUnit{{"tbit", 1e12}, {"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}}
}

// ParseRate reads a network rate in bits/s the way tc writes it: "100mbit",
// "1gbit", "1.5Gbit", "500kbit", "1000bit" or plain bits/s "1000000". The
// units are decimal (1mbit = 1000000 bit/s) and case-insensitive. tc's byte
// rates (bps, kbps, mbps: bytes per second) and IEC rates (kibit) are
// refused, so a rate has one spelling. Like ParseSize it refuses "", zero,
// negative, NaN, junk, fractions of a bit and values past uint64.
func ParseRate(field, s string) (uint64, error) {
	v := strconv.Quote(s)
	num, unit, rule := splitNumber(s)
	if rule != "" {
		return 0, invalid(field, v, rule, rateFix)
	}
	mult := uint64(0)
	switch u := strings.ToLower(unit); u {
	case "", "bit":
		mult = 1
	default:
		for _, ru := range rateUnits() {
			if u == ru.name {
				mult = ru.n
			}
		}
		if mult == 0 && strings.HasSuffix(u, "bps") {
			return 0, invalid(field, v, fmt.Sprintf("unit %q is bytes per second in tc", unit), "write bits: 8 times the number with \"bit\" instead of \"bps\" (1mbps = 8mbit); "+rateFix)
		}
		if mult == 0 {
			return 0, invalid(field, v, fmt.Sprintf("unknown unit %q", unit), rateFix)
		}
	}
	r := exact(num, mult)
	switch {
	case r.Sign() == 0:
		return 0, invalid(field, v, "zero", "give a rate above zero, or leave it out for unlimited; "+rateFix)
	case !r.IsInt():
		return 0, invalid(field, v, "not a whole number of bits/s", rateFix)
	case !r.Num().IsUint64():
		return 0, invalid(field, v, "more than the largest rate (2^64-1 bit/s)", rateFix)
	}
	return r.Num().Uint64(), nil
}

// FormatRate writes bits/s exactly, tc-style, in the largest unit that takes
// at most three decimals: "100mbit", "1gbit", "1.5gbit", "1234.567kbit", "999bit".
// ParseRate reads every result back.
func FormatRate(bits uint64) string {
	for _, u := range rateUnits() {
		if bits < u.n {
			continue
		}
		if s, ok := decimal(bits/u.n, bits%u.n, u.n, 3); ok {
			return s + u.name
		}
	}
	return strconv.FormatUint(bits, 10) + "bit"
}
