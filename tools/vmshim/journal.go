package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// journalArgs are the journalctl options vmshim acts on.
type journalArgs struct {
	units  []string
	lines  int // -1: all
	follow bool
}

// journalShortWithValue are journalctl's short options that take a value.
const journalShortWithValue = "unSUopDtMF"

// parseJournal reads journalctl's command line: -u and -n (also clustered
// as -fu UNIT, -xeu UNIT, -n20), -f and -e; the rest is accepted and
// ignored (the whole log is shown). -f without -n shows the last 10
// lines first, as journalctl does.
func parseJournal(args []string) journalArgs {
	ja := journalArgs{lines: -1}
	end, linesSet := false, false
	setLines := func(v string) {
		linesSet = true
		if v == "all" {
			ja.lines = -1
		} else if n, err := strconv.Atoi(strings.TrimPrefix(v, "+")); err == nil {
			ja.lines = n
		}
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		next := func() string {
			if i+1 < len(args) {
				i++
				return args[i]
			}
			return ""
		}
		switch {
		case a == "--unit":
			ja.units = append(ja.units, next())
		case strings.HasPrefix(a, "--unit="):
			ja.units = append(ja.units, strings.TrimPrefix(a, "--unit="))
		case a == "--lines":
			setLines(next())
		case strings.HasPrefix(a, "--lines="):
			setLines(strings.TrimPrefix(a, "--lines="))
		case a == "--follow":
			ja.follow = true
		case a == "--pager-end":
			end = true
		case a == "--since" || a == "--until" || a == "--output" || a == "--priority" || a == "--identifier" ||
			a == "--boot" && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-"):
			next() // accepted; the whole log is shown
		case strings.HasPrefix(a, "--") || a == "-" || !strings.HasPrefix(a, "-"):
			// --no-pager, --since=..., -o short ... accepted
		default:
			// A cluster of short options; one taking a value ends it
			// with the rest of the word or the next argument.
			for k := 1; k < len(a); k++ {
				c := a[k]
				if strings.IndexByte(journalShortWithValue, c) < 0 {
					switch c {
					case 'f':
						ja.follow = true
					case 'e':
						end = true
					}
					continue
				}
				v := a[k+1:]
				if v == "" && c == 'n' {
					// -n's value is optional: alone it means 10
					v = "10"
					if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
						v = next()
					}
				} else if v == "" {
					v = next()
				}
				switch c {
				case 'u':
					ja.units = append(ja.units, v)
				case 'n':
					setLines(v)
				}
				break
			}
		}
	}
	if !linesSet && (ja.follow || end) {
		ja.lines = 10
		if end && !ja.follow {
			ja.lines = 1000
		}
	}
	return ja
}

// journalctl shows a unit's log: the supervisord log of its program.
func (s *shim) journalctl(args []string) int {
	ja := parseJournal(args)
	unitsAsked, lines, follow := ja.units, ja.lines, ja.follow
	if len(unitsAsked) == 0 {
		fmt.Fprintf(s.errw, "journalctl: there is no journal in a fat container; only `journalctl -u UNIT` is supported (it shows %s/<program>.log). Other logs: %s and /var/log/syslog.\n", logDir, logDir)
		return 1
	}
	progs, _ := s.programs()
	var files []string
	for _, u := range unitsAsked {
		t := s.resolve(u, progs)
		if t.unit != nil && t.unit.Timer != nil {
			t = s.resolve(orDefault(t.unit.Timer.Unit, bareName(t.name)+".service"), progs)
		}
		files = append(files, s.logOf(t))
	}
	for _, f := range files {
		if lines >= 0 {
			for _, l := range tailLines(f, lines) {
				fmt.Fprintln(s.out, l)
			}
		} else if fh, err := os.Open(f); err == nil {
			_, _ = io.Copy(s.out, fh)
			fh.Close()
		}
		if len(files) == 1 {
			if _, err := os.Stat(f); err != nil && !follow {
				fmt.Fprintln(s.out, "-- No entries --")
			}
		}
	}
	if follow {
		return s.follow(files)
	}
	return 0
}

// follow prints what is appended to the paths (journalctl -f -u a -u b
// follows every unit), across truncation and supervisord's rotation (a
// new file at the same path).
func (s *shim) follow(paths []string) int {
	type pos struct {
		off int64
		ino uint64
	}
	at := make([]pos, len(paths))
	for i, p := range paths {
		if st, err := os.Stat(p); err == nil {
			at[i].off = st.Size()
		}
	}
	for {
		for i, path := range paths {
			st, err := os.Stat(path)
			if err != nil {
				continue
			}
			cur := statIno(st)
			if at[i].ino != 0 && cur != at[i].ino || st.Size() < at[i].off {
				at[i].off = 0
			}
			at[i].ino = cur
			if st.Size() > at[i].off {
				if f, err := os.Open(path); err == nil {
					if _, err := f.Seek(at[i].off, io.SeekStart); err == nil {
						n, _ := io.Copy(s.out, f)
						at[i].off += n
					}
					f.Close()
				}
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
}
