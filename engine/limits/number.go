package limits

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// maxDigits bounds the number part of a size or rate: more digits than
// any int64 or uint64 has is never a real value (and keeps math/big cheap).
const maxDigits = 32

// splitNumber splits s into its decimal number and its unit: "2.5 GiB" is
// "2.5" and "GiB". The number is digits with at most one decimal point; one
// space may stand between it and the unit (as docker allows); the unit is
// ASCII letters. rule says what is wrong when s does not have that shape.
func splitNumber(s string) (num, unit, rule string) {
	if s == "" {
		return "", "", "empty"
	}
	i, digits, dots := 0, 0, 0
	for ; i < len(s); i++ {
		c := s[i]
		if c == '.' {
			dots++
		} else if c >= '0' && c <= '9' {
			digits++
		} else {
			break
		}
	}
	num = s[:i]
	switch {
	case digits == 0 && strings.HasPrefix(s, "-"):
		return "", "", "negative"
	case digits == 0:
		return "", "", "not a number"
	case dots > 1:
		return "", "", fmt.Sprintf("%q is not a number (more than one decimal point)", num)
	case len(num) > maxDigits:
		return "", "", fmt.Sprintf("more than %d digits", maxDigits)
	}
	rest := s[i:]
	if len(rest) > 1 && rest[0] == ' ' && isLetter(rest[1]) {
		rest = rest[1:]
	}
	j := 0
	for j < len(rest) && isLetter(rest[j]) {
		j++
	}
	unit = rest[:j]
	if after := rest[j:]; after != "" {
		return "", "", fmt.Sprintf("unexpected %q after %q", after, s[:len(s)-len(after)])
	}
	return num, unit, ""
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// exact is num × mult, exactly.
func exact(num string, mult uint64) *big.Rat {
	if strings.HasPrefix(num, ".") {
		num = "0" + num
	}
	r, ok := new(big.Rat).SetString(strings.TrimSuffix(num, "."))
	if !ok { // cannot happen: splitNumber let only digits and one point through
		r = new(big.Rat)
	}
	return r.Mul(r, new(big.Rat).SetInt(new(big.Int).SetUint64(mult)))
}

// decimal writes whole + rem/unit with at most prec decimals, trailing zeros
// dropped: decimal(1, 512, 1024, 2) is "1.5". ok is false when rem/unit
// needs more decimals than prec.
func decimal(whole, rem, unit uint64, prec int) (string, bool) {
	scale := uint64(math.Pow10(prec))
	if rem*scale%unit != 0 {
		return "", false
	}
	s := strconv.FormatUint(whole, 10)
	if rem == 0 {
		return s, true
	}
	frac := fmt.Sprintf("%0*d", prec, rem*scale/unit)
	return s + "." + strings.TrimRight(frac, "0"), true
}

// fmtFloat writes f as the shortest decimal that reads back as f.
func fmtFloat(f float64) string {
	return strconv.FormatFloat(f, 'g', -1, 64)
}
