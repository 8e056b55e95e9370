package units

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// assignment is one "Key=Value" line of a unit file.
type assignment struct {
	section, key, value string
	file                string
	line                int
}

// lexUnit splits a unit file into assignments (systemd.syntax(7)): "#" and
// ";" comment lines, "[Section]" headers, trailing-backslash continuation
// (the backslash becomes a space, the next line is appended with its
// leading whitespace; comment lines inside a continuation are skipped).
func lexUnit(file string, r io.Reader) ([]assignment, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	var (
		out     []assignment
		section string
		cont    strings.Builder
		inCont  bool
		start   int
		n       int
	)
	for sc.Scan() {
		n++
		raw := strings.TrimSuffix(sc.Text(), "\r")
		if n == 1 {
			raw = strings.TrimPrefix(raw, "\ufeff")
		}
		lead := strings.TrimLeft(raw, " \t")
		if strings.HasPrefix(lead, "#") || strings.HasPrefix(lead, ";") {
			continue // comments, also inside a continuation
		}
		if !inCont {
			if lead == "" {
				continue
			}
			start = n
		}
		// As systemd: a line whose last byte is an unescaped backslash
		// continues; the backslash becomes a space and the next line is
		// appended as is, leading whitespace included.
		if oddBackslashes(raw) {
			cont.WriteString(raw[:len(raw)-1])
			cont.WriteByte(' ')
			inCont = true
			continue
		}
		cont.WriteString(raw)
		full := strings.TrimSpace(cont.String())
		cont.Reset()
		inCont = false
		if strings.HasPrefix(full, "[") {
			if !strings.HasSuffix(full, "]") {
				return nil, fmt.Errorf("%s:%d: invalid section header %q (write [Name])", file, start, full)
			}
			section = full[1 : len(full)-1]
			continue
		}
		key, value, ok := strings.Cut(full, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: %q is not an assignment (write Key=Value)", file, start, full)
		}
		if section == "" {
			return nil, fmt.Errorf("%s:%d: assignment %q outside of any [Section]", file, start, full)
		}
		out = append(out, assignment{section: section, key: strings.TrimSpace(key), value: strings.TrimSpace(value), file: file, line: start})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %q: %w", file, err)
	}
	if inCont {
		full := strings.TrimSpace(cont.String())
		if key, value, ok := strings.Cut(full, "="); ok && section != "" {
			out = append(out, assignment{section: section, key: strings.TrimSpace(key), value: strings.TrimSpace(value), file: file, line: start})
		}
	}
	return out, nil
}

func oddBackslashes(s string) bool {
	n := 0
	for i := len(s) - 1; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// splitWords splits s into words the way systemd's extract_first_word does
// with EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE: whitespace separates words, single
// and double quotes group (anywhere in a word), C escapes are decoded inside
// and outside quotes; an unknown escape is kept as written (systemd warns
// and does the same). literal[i] reports whether word i had any quoting or
// escaping (a lone ";" written as "\;" is not a separator).
func splitWords(s string) (words []string, literal []bool, err error) {
	i := 0
	for {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) {
			return words, literal, nil
		}
		var b strings.Builder
		var quote byte
		lit := false
		for i < len(s) {
			c := s[i]
			if quote == 0 && isSpace(c) {
				break
			}
			switch {
			case c == '\\':
				lit = true
				if i+1 >= len(s) {
					b.WriteByte('\\') // systemd keeps a trailing backslash
					i++
					continue
				}
				if s[i+1] == ';' && b.Len() == 0 && quote == 0 && (i+2 >= len(s) || isSpace(s[i+2])) {
					b.WriteByte(';') // "\;" alone: a literal ";" argument, not a separator
					i += 2
					continue
				}
				r, n, e := unescapeOne(s[i+1:])
				if e != nil {
					// As systemd (EXTRACT_CUNESCAPE_RELAX): an unknown or
					// invalid escape keeps the backslash and the next byte.
					b.WriteByte('\\')
					b.WriteByte(s[i+1])
					i += 2
					continue
				}
				b.WriteString(r)
				i += 1 + n
				continue
			case quote != 0 && c == quote:
				quote = 0
			case quote == 0 && (c == '"' || c == '\''):
				quote = c
				lit = true
			default:
				b.WriteByte(c)
			}
			i++
		}
		if quote != 0 {
			return nil, nil, fmt.Errorf("unbalanced quote %c in %q", quote, s)
		}
		words = append(words, b.String())
		literal = append(literal, lit)
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// unescapeOne decodes the escape after a backslash; it returns the text and
// how many bytes of s it consumed.
func unescapeOne(s string) (string, int, error) {
	switch s[0] {
	case 'a':
		return "\a", 1, nil
	case 'b':
		return "\b", 1, nil
	case 'f':
		return "\f", 1, nil
	case 'n':
		return "\n", 1, nil
	case 'r':
		return "\r", 1, nil
	case 't':
		return "\t", 1, nil
	case 'v':
		return "\v", 1, nil
	case 's':
		return " ", 1, nil
	case '\\', '"', '\'':
		return s[:1], 1, nil
	case 'x':
		if len(s) < 3 {
			return "", 0, fmt.Errorf("short \\x escape")
		}
		n, err := strconv.ParseUint(s[1:3], 16, 8)
		if err != nil || n == 0 {
			return "", 0, fmt.Errorf("invalid \\x escape %q", "\\"+s[:3])
		}
		return string([]byte{byte(n)}), 3, nil
	case 'u', 'U':
		l := 4
		if s[0] == 'U' {
			l = 8
		}
		if len(s) < l+1 {
			return "", 0, fmt.Errorf("short \\%c escape", s[0])
		}
		n, err := strconv.ParseUint(s[1:l+1], 16, 32)
		if err != nil || n == 0 || !utf8.ValidRune(rune(n)) {
			return "", 0, fmt.Errorf("invalid \\%c escape", s[0])
		}
		return string(rune(n)), l + 1, nil
	}
	if s[0] >= '0' && s[0] <= '7' {
		if len(s) < 3 {
			return "", 0, fmt.Errorf("short octal escape")
		}
		n, err := strconv.ParseUint(s[:3], 8, 8)
		if err != nil || n == 0 {
			return "", 0, fmt.Errorf("invalid octal escape %q", "\\"+s[:3])
		}
		return string([]byte{byte(n)}), 3, nil
	}
	return "", 0, fmt.Errorf("unknown escape \\%c", s[0])
}

// fields splits a plain space-separated list value (After=, WantedBy=, ...)
// with quoting; a malformed value falls back to strings.Fields.
func fields(s string) []string {
	w, _, err := splitWords(s)
	if err != nil {
		return strings.Fields(s)
	}
	return w
}
