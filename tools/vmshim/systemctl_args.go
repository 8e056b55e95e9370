package main

import (
	"fmt"
	"strconv"
	"strings"
)

// sysOpts are the systemctl flags scripts pass.
type sysOpts struct {
	quiet, noBlock, all, full, noLegend, value, now, force, plain, wait bool
	props                                                               []string
	types, states                                                       []string
	signal, whom, root                                                  string
	lines                                                               int
}

// parseSystemctl splits flags from the verb and its arguments; flags may
// come anywhere, as systemctl allows.
func parseSystemctl(args []string) (verb string, names []string, o sysOpts, err error) {
	o.lines = 10
	var pos []string
	value := func(i *int, a, long string) (string, error) {
		if v, ok := strings.CutPrefix(a, long+"="); ok {
			return v, nil
		}
		if *i+1 >= len(args) {
			return "", fmt.Errorf("option %s needs a value", a)
		}
		*i++
		return args[*i], nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		switch {
		case a == "-q" || a == "--quiet":
			o.quiet = true
		case a == "--no-block":
			o.noBlock = true
		case a == "-a" || a == "--all":
			o.all = true
		case a == "-l" || a == "--full":
			o.full = true
		case a == "--plain":
			o.plain = true
		case a == "--no-legend" || a == "--legend=no" || a == "--legend=false":
			o.noLegend = true
		case a == "--value":
			o.value = true
		case a == "--now":
			o.now = true
		case a == "--wait":
			o.wait = true
		case a == "-f" || a == "--force":
			o.force = true
		case a == "--no-pager", a == "--no-ask-password", a == "--system", a == "--no-reload",
			a == "--no-wall", a == "--failed", a == "--runtime", a == "--show-types",
			a == "--no-warn", a == "-i", a == "--ignore-inhibitors", a == "--check-inhibitors=no",
			strings.HasPrefix(a, "--job-mode="), strings.HasPrefix(a, "--output="), strings.HasPrefix(a, "--preset-mode="),
			strings.HasPrefix(a, "--legend"), strings.HasPrefix(a, "--check-inhibitors"), strings.HasPrefix(a, "--timestamp"):
			if a == "--failed" {
				o.states = append(o.states, "failed")
			}
		case a == "--version":
			return "--version", nil, o, nil
		case a == "-h" || a == "--help":
			return "--help", nil, o, nil
		case a == "--global":
			// deb-systemd-helper's flag for user units: nothing to do here
		case a == "--root" || strings.HasPrefix(a, "--root="):
			v, err := value(&i, a, "--root")
			if err != nil {
				return "", nil, o, err
			}
			o.root = v
		case a == "--user" || strings.HasPrefix(a, "--user=") || a == "-H" || strings.HasPrefix(a, "--host") || a == "-M" || strings.HasPrefix(a, "--machine"):
			return "", nil, o, fmt.Errorf("%s is not supported: vmshim manages the container's system services only", a)
		case a == "-p" || strings.HasPrefix(a, "--property") || strings.HasPrefix(a, "-p"):
			var v string
			if strings.HasPrefix(a, "-p") && len(a) > 2 {
				v = a[2:]
			} else if v, err = value(&i, a, "--property"); err != nil {
				return "", nil, o, err
			}
			for _, p := range strings.Split(v, ",") {
				if p = strings.TrimSpace(p); p != "" {
					o.props = append(o.props, p)
				}
			}
		case a == "-P":
			if i+1 >= len(args) {
				return "", nil, o, fmt.Errorf("option -P needs a value")
			}
			i++
			o.props = append(o.props, args[i])
			o.value = true
		case a == "-t" || strings.HasPrefix(a, "--type"):
			v, err := value(&i, a, "--type")
			if err != nil {
				return "", nil, o, err
			}
			o.types = append(o.types, strings.Split(v, ",")...)
		case strings.HasPrefix(a, "--state"):
			v, err := value(&i, a, "--state")
			if err != nil {
				return "", nil, o, err
			}
			o.states = append(o.states, strings.Split(v, ",")...)
		case a == "-s" || strings.HasPrefix(a, "--signal"):
			v, err := value(&i, a, "--signal")
			if err != nil {
				return "", nil, o, err
			}
			o.signal = v
		case strings.HasPrefix(a, "--kill-whom") || strings.HasPrefix(a, "--kill-who"):
			long := "--kill-whom"
			if !strings.HasPrefix(a, long) {
				long = "--kill-who"
			}
			v, err := value(&i, a, long)
			if err != nil {
				return "", nil, o, err
			}
			o.whom = v
		case a == "-n" || strings.HasPrefix(a, "--lines"):
			v, err := value(&i, a, "--lines")
			if err != nil {
				return "", nil, o, err
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				return "", nil, o, fmt.Errorf("--lines=%s: not a number", v)
			}
			o.lines = n
		case strings.HasPrefix(a, "-n"):
			n, err := strconv.Atoi(a[2:])
			if err != nil {
				return "", nil, o, fmt.Errorf("%s: not a number", a)
			}
			o.lines = n
		default:
			// Clustered short flags like -ql.
			if !strings.HasPrefix(a, "--") && strings.Trim(a[1:], "qalf") == "" {
				for _, c := range a[1:] {
					switch c {
					case 'q':
						o.quiet = true
					case 'a':
						o.all = true
					case 'l':
						o.full = true
					case 'f':
						o.force = true
					}
				}
				continue
			}
			return "", nil, o, fmt.Errorf("unknown option %s", a)
		}
	}
	if len(pos) == 0 {
		return "list-units", nil, o, nil
	}
	return pos[0], pos[1:], o, nil
}
