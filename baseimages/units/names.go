package units

import (
	"fmt"
	"strconv"
	"strings"
)

// unitTypes that can name a unit file.
func unitSuffix(name string) string {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return ""
	}
	switch s := name[i+1:]; s {
	case "service", "socket", "device", "mount", "automount", "swap", "target", "path", "timer", "slice", "scope":
		return s
	}
	return ""
}

// normalizeName adds ".service" to a name without a unit suffix.
func normalizeName(name string) string {
	if unitSuffix(name) == "" {
		return name + ".service"
	}
	return name
}

// validName reports whether name is a plausible unit name (no path separators).
func validName(name string) error {
	if name == "" || strings.ContainsAny(name, "/\x00") || strings.HasPrefix(name, ".") {
		return fmt.Errorf("%q is not a unit name (write e.g. nginx or nginx.service)", name)
	}
	if unitSuffix(name) == "" {
		return fmt.Errorf("%q has no unit type suffix (.service, .timer, ...)", name)
	}
	if strings.Count(name, "@") > 1 {
		return fmt.Errorf("%q has more than one @", name)
	}
	return nil
}

// splitTemplate splits "x@inst.service" into prefix "x", instance "inst",
// suffix "service"; isTemplate is set for "x@inst" and "x@".
func splitTemplate(name string) (prefix, instance, suffix string, isTemplate bool) {
	suffix = unitSuffix(name)
	base := strings.TrimSuffix(name, "."+suffix)
	prefix, instance, isTemplate = strings.Cut(base, "@")
	return prefix, instance, suffix, isTemplate
}

// templateOf returns "x@.service" for "x@inst.service", "" for a non-instance.
func templateOf(name string) string {
	p, inst, suf, ok := splitTemplate(name)
	if !ok || inst == "" {
		return ""
	}
	return p + "@." + suf
}

// unescapeName reverses systemd-escape: "-" becomes "/", "\xNN" the byte.
func unescapeName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '-' {
			b.WriteByte('/')
			continue
		}
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if n, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unescapePath reverses systemd-escape --path: "-" is "/", and the result is absolute.
func unescapePath(s string) string {
	if s == "-" || s == "" {
		return "/"
	}
	return "/" + strings.TrimPrefix(unescapeName(s), "/")
}

// specifierContext resolves %-specifiers for one unit (systemd.unit(5) "Specifiers").
type specifierContext struct {
	name     string // full unit name, the instance name for templates
	file     string // unit file path
	hostname string
	machine  string
	boot     string
	kernel   string
	arch     string
	shell    string            // root's login shell (%s)
	osr      map[string]string // os-release fields
}

func (s specifierContext) resolve(in string) (string, error) {
	if !strings.Contains(in, "%") {
		return in, nil
	}
	prefix, inst, suffix, _ := splitTemplate(s.name)
	var b strings.Builder
	for i := 0; i < len(in); i++ {
		if in[i] != '%' {
			b.WriteByte(in[i])
			continue
		}
		if i+1 >= len(in) {
			return "", fmt.Errorf("%q ends with a lone %%; write %%%% for a literal %%", in)
		}
		i++
		var v string
		switch in[i] {
		case '%':
			v = "%"
		case 'n':
			v = s.name
		case 'N':
			v = strings.TrimSuffix(s.name, "."+suffix)
		case 'p':
			v = prefix
		case 'P':
			v = unescapeName(prefix)
		case 'i':
			v = inst
		case 'I':
			v = unescapeName(inst)
		case 'j':
			v = prefix[strings.LastIndexByte(prefix, '-')+1:]
		case 'J':
			v = unescapeName(prefix[strings.LastIndexByte(prefix, '-')+1:])
		case 'f':
			if inst != "" {
				v = unescapePath(inst)
			} else {
				v = unescapePath(prefix)
			}
		case 'y':
			v = s.file
		case 'Y':
			v = s.file[:max(strings.LastIndexByte(s.file, '/'), 0)]
		case 't':
			v = "/run"
		case 'S':
			v = "/var/lib"
		case 'C':
			v = "/var/cache"
		case 'L':
			v = "/var/log"
		case 'E':
			v = "/etc"
		case 'T':
			v = "/tmp"
		case 'V':
			v = "/var/tmp"
		case 'h':
			v = "/root"
		case 'u', 'g':
			v = "root"
		case 'U', 'G':
			v = "0"
		case 's':
			v = s.shell
			if v == "" {
				v = "/bin/sh"
			}
		case 'H':
			v = s.hostname
		case 'l':
			v, _, _ = strings.Cut(s.hostname, ".")
		case 'q':
			v = s.hostname
		case 'm':
			v = s.machine
		case 'b':
			v = s.boot
		case 'v':
			v = s.kernel
		case 'a':
			v = s.arch
		case 'o':
			v = s.osr["ID"]
		case 'w':
			v = s.osr["VERSION_ID"]
		case 'B':
			v = s.osr["BUILD_ID"]
		case 'W':
			v = s.osr["VARIANT_ID"]
		case 'M':
			v = s.osr["IMAGE_ID"]
		case 'A':
			v = s.osr["IMAGE_VERSION"]
		default:
			return "", fmt.Errorf("unknown specifier %%%c in %q; write %%%% for a literal %%", in[i], in)
		}
		b.WriteString(v)
	}
	return b.String(), nil
}
