package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// journalctl shows a unit's log: the supervisord log of its program.
func (s *shim) journalctl(args []string) int {
	var unitsAsked []string
	lines := -1
	follow := false
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
		case a == "-u" || a == "--unit":
			unitsAsked = append(unitsAsked, next())
		case strings.HasPrefix(a, "--unit="):
			unitsAsked = append(unitsAsked, strings.TrimPrefix(a, "--unit="))
		case strings.HasPrefix(a, "-u") && len(a) > 2:
			unitsAsked = append(unitsAsked, a[2:])
		case a == "-n" || a == "--lines":
			if n, err := strconv.Atoi(next()); err == nil {
				lines = n
			}
		case strings.HasPrefix(a, "--lines="):
			if n, err := strconv.Atoi(strings.TrimPrefix(a, "--lines=")); err == nil {
				lines = n
			}
		case strings.HasPrefix(a, "-n") && len(a) > 2:
			if n, err := strconv.Atoi(a[2:]); err == nil {
				lines = n
			}
		case a == "-f" || a == "--follow":
			follow = true
		case a == "-e" || a == "--pager-end":
			if lines < 0 {
				lines = 1000
			}
		case a == "-xe" || a == "-ex" || a == "-xeu" || a == "-eu":
			if lines < 0 {
				lines = 1000
			}
			if strings.HasSuffix(a, "u") {
				unitsAsked = append(unitsAsked, next())
			}
		case a == "--since" || a == "-S" || a == "--until" || a == "-U" || a == "-o" || a == "--output" || a == "-p" || a == "--priority" || a == "-t" || a == "--identifier":
			next() // accepted; the whole log is shown
		default:
			// -x, -q, --no-pager, -b, --no-hostname, --since=..., -o short ... accepted
		}
	}
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
		return s.follow(files[0])
	}
	return 0
}

// follow prints what is appended to path, across truncation and
// supervisord's rotation (a new file at the same path).
func (s *shim) follow(path string) int {
	var off int64
	if st, err := os.Stat(path); err == nil {
		off = st.Size()
	}
	var ino uint64
	for {
		st, err := os.Stat(path)
		if err == nil {
			cur := statIno(st)
			if ino != 0 && cur != ino || st.Size() < off {
				off = 0
			}
			ino = cur
			if st.Size() > off {
				if f, err := os.Open(path); err == nil {
					if _, err := f.Seek(off, io.SeekStart); err == nil {
						n, _ := io.Copy(s.out, f)
						off += n
					}
					f.Close()
				}
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
}
