package units

import (
	"fmt"
	"strings"
)

// parseExec parses one Exec*= value into commands. A lone ";" word separates
// several commands (write "\;" for a literal semicolon). spec resolves
// specifiers in each word after unquoting, as systemd does.
func parseExec(value string, spec func(string) (string, error)) ([]Command, error) {
	words, literal, err := splitWords(value)
	if err != nil {
		return nil, err
	}
	var (
		cmds []Command
		cur  []string
	)
	flush := func() error {
		if len(cur) == 0 {
			return nil
		}
		c, err := buildCommand(cur, spec)
		if err != nil {
			return err
		}
		cmds = append(cmds, c)
		cur = nil
		return nil
	}
	for i, w := range words {
		if w == ";" && !literal[i] {
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		}
		cur = append(cur, w)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	// Raw: the value as written; with several commands each carries the whole line.
	for i := range cmds {
		cmds[i].Raw = value
	}
	if len(cmds) > 1 {
		for i := range cmds {
			cmds[i].Raw = rawOf(cmds[i])
		}
	}
	return cmds, nil
}

func rawOf(c Command) string {
	var b strings.Builder
	if c.IgnoreFailure {
		b.WriteByte('-')
	}
	if c.Privileged {
		b.WriteByte('+')
	}
	if c.NoEnvExpand {
		b.WriteByte(':')
	}
	if c.Argv0 != "" {
		b.WriteByte('@')
	}
	for i, a := range c.Argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		if i == 1 && c.Argv0 != "" {
			b.WriteString(quoteWord(c.Argv0))
			b.WriteByte(' ')
		}
		b.WriteString(quoteWord(a))
	}
	return b.String()
}

func quoteWord(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n\"'\\;") {
		return s
	}
	r := strings.NewReplacer("\\", "\\\\", "\"", "\\\"", "\n", "\\n", "\t", "\\t")
	return "\"" + r.Replace(s) + "\""
}

func buildCommand(words []string, spec func(string) (string, error)) (Command, error) {
	var c Command
	first := words[0]
	at := false
	// Prefixes in any order: - @ : + ! !!
	for len(first) > 0 {
		switch first[0] {
		case '-':
			c.IgnoreFailure = true
		case '@':
			at = true
		case ':':
			c.NoEnvExpand = true
		case '+', '!':
			c.Privileged = true
		default:
			goto done
		}
		first = first[1:]
	}
done:
	if first == "" {
		return Command{}, fmt.Errorf("command line %q has no program after its prefixes", strings.Join(words, " "))
	}
	argv := append([]string{first}, words[1:]...)
	for i, w := range argv {
		r, err := spec(w)
		if err != nil {
			return Command{}, err
		}
		argv[i] = r
	}
	if at {
		if len(argv) < 2 {
			return Command{}, fmt.Errorf("command line %q uses @ but gives no argv[0] after the program", strings.Join(words, " "))
		}
		c.Argv0 = argv[1]
		argv = append([]string{argv[0]}, argv[2:]...)
	}
	if !strings.HasPrefix(argv[0], "/") && strings.Contains(argv[0], "/") {
		return Command{}, fmt.Errorf("program %q is a relative path: write an absolute path or a bare name looked up in PATH", argv[0])
	}
	c.Argv = argv
	return c, nil
}

// Expand applies $VAR / ${VAR} expansion with env, systemd's rules: a word
// that is exactly "$VAR" is replaced by the value split at whitespace (zero
// or more words, unquoted); "${VAR}" (or $VAR inside a longer word) is
// substituted as is, keeping one word; "$$" is a literal "$"; unset
// variables expand to nothing; ${VAR:-default} and ${VAR:+alternative} work
// as in systemd ≥247. With NoEnvExpand (":" prefix) Argv is returned as is.
// The program (Argv[0]) is never expanded, as in systemd.
func (c Command) Expand(env map[string]string) []string {
	out := make([]string, 0, len(c.Argv))
	for i, w := range c.Argv {
		if c.NoEnvExpand || i == 0 {
			out = append(out, w)
			continue
		}
		if i > 0 && len(w) > 1 && w[0] == '$' && isEnvName(w[1:]) {
			v := env[w[1:]]
			ws, _, err := splitWords(v)
			if err != nil {
				ws = strings.Fields(v)
			}
			out = append(out, ws...)
			continue
		}
		out = append(out, expandEnv(w, env))
	}
	return out
}

func isEnvName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// expandEnv substitutes $VAR, ${VAR}, ${VAR:-x}, ${VAR:+x} and $$ in one word.
func expandEnv(w string, env map[string]string) string {
	if !strings.Contains(w, "$") {
		return w
	}
	var b strings.Builder
	for i := 0; i < len(w); i++ {
		if w[i] != '$' || i+1 >= len(w) {
			b.WriteByte(w[i])
			continue
		}
		switch {
		case w[i+1] == '$':
			b.WriteByte('$')
			i++
		case w[i+1] == '{':
			end := strings.IndexByte(w[i+2:], '}')
			if end < 0 {
				b.WriteString(w[i:])
				return b.String()
			}
			inner := w[i+2 : i+2+end]
			i += 2 + end
			name, op, alt := inner, "", ""
			if k := strings.Index(inner, ":-"); k >= 0 {
				name, op, alt = inner[:k], ":-", inner[k+2:]
			} else if k := strings.Index(inner, ":+"); k >= 0 {
				name, op, alt = inner[:k], ":+", inner[k+2:]
			}
			v, set := env[name]
			switch op {
			case ":-":
				if !set || v == "" {
					v = expandEnv(alt, env)
				}
			case ":+":
				if set && v != "" {
					v = expandEnv(alt, env)
				} else {
					v = ""
				}
			}
			b.WriteString(v)
		default:
			j := i + 1
			for j < len(w) && (w[j] == '_' || w[j] >= 'a' && w[j] <= 'z' || w[j] >= 'A' && w[j] <= 'Z' || w[j] >= '0' && w[j] <= '9') {
				j++
			}
			if j == i+1 {
				b.WriteByte('$')
				continue
			}
			b.WriteString(env[w[i+1:j]])
			i = j - 1
		}
	}
	return b.String()
}
