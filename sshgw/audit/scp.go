package audit

import (
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SCP taps one legacy scp exchange (`scp -t` sink or `scp -f` source run
// as the exec command). The file-carrying direction is client→server for
// -t (upload) and server→client for -f (download); the other one carries
// only acknowledgements and is not parsed.
type SCP struct {
	mu     sync.Mutex
	emit   func(Transfer)
	dir    string // Upload or Download
	target string
	toDir  bool // the target is a directory: names are joined to it
	now    func() time.Time
	err    error

	line  []byte
	skip  int64 // file bytes still to pass over
	ackNo bool  // after the file bytes, one status byte follows
	stack []string
	cur   *Transfer
}

// maxSCPLine bounds a control line (C/D/E/T, or an error message).
const maxSCPLine = 64 << 10

// ParseSCP recognises a legacy scp command line (what `scp -O` runs
// remotely: `scp [-v] [-r] [-p] [-d] -t|-f [--] PATH`). ok is false for
// any other command.
func ParseSCP(command string) (upload bool, target string, toDir bool, ok bool) {
	args, err := splitCommand(command)
	if err != nil || len(args) < 3 || path.Base(args[0]) != "scp" {
		return false, "", false, false
	}
	var t, f, recursive, dirFlag bool
	var rest []string
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i+1:]...)
			break
		}
		if len(a) > 1 && a[0] == '-' {
			for _, c := range a[1:] {
				switch c {
				case 't':
					t = true
				case 'f':
					f = true
				case 'r':
					recursive = true
				case 'd':
					dirFlag = true
				case 'v', 'p', 'q':
				default:
					return false, "", false, false
				}
			}
			continue
		}
		rest = append(rest, a)
	}
	if t == f || len(rest) != 1 {
		return false, "", false, false
	}
	target = rest[0]
	return t, target, t && (dirFlag || recursive || strings.HasSuffix(target, "/")), true
}

// NewSCP returns a tap for the legacy scp exchange command starts, or nil
// when command is not one (see ParseSCP).
func NewSCP(command string, emit func(Transfer)) *SCP {
	up, target, toDir, ok := ParseSCP(command)
	if !ok {
		return nil
	}
	o := &SCP{emit: emit, target: target, toDir: toDir, now: time.Now, dir: Download}
	if up {
		o.dir = Upload
	}
	return o
}

// ClientToServer is the writer for the bytes the client sends.
func (o *SCP) ClientToServer() io.Writer {
	if o.dir == Upload {
		return scpWriter{o}
	}
	return io.Discard
}

// ServerToClient is the writer for the bytes the server sends.
func (o *SCP) ServerToClient() io.Writer {
	if o.dir == Download {
		return scpWriter{o}
	}
	return io.Discard
}

// Err is why the tap stopped parsing, nil while it parses.
func (o *SCP) Err() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

// Close emits a file cut short (the session ended inside it).
func (o *SCP) Close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cur != nil {
		t := *o.cur
		o.cur = nil
		t.End, t.Err = o.now(), "the session ended before the whole file was sent"
		o.emit(t)
	}
	if o.err == nil {
		o.err = fmt.Errorf("audit: scp tap closed")
	}
}

type scpWriter struct{ o *SCP }

func (w scpWriter) Write(p []byte) (int, error) {
	w.o.mu.Lock()
	defer w.o.mu.Unlock()
	if w.o.err == nil {
		if err := w.o.feed(p); err != nil {
			w.o.err = err
		}
	}
	return len(p), nil
}

func (o *SCP) feed(p []byte) error {
	for len(p) > 0 {
		if o.skip > 0 {
			n := min(int64(len(p)), o.skip)
			o.skip -= n
			o.cur.Bytes += n
			p = p[n:]
			continue
		}
		if o.ackNo {
			// The sender's status byte after the file: 0 ok, else an error line follows.
			o.ackNo = false
			t := *o.cur
			o.cur = nil
			t.End = o.now()
			if p[0] != 0 {
				t.Err = "the sender failed while reading the file"
			}
			o.emit(t)
			p = p[1:]
			continue
		}
		i := indexByte(p, '\n')
		if i < 0 {
			if len(o.line)+len(p) > maxSCPLine {
				return fmt.Errorf("audit: scp control line over %d bytes: not scp?", maxSCPLine)
			}
			o.line = append(o.line, p...)
			return nil
		}
		o.line = append(o.line, p[:i]...)
		p = p[i+1:]
		line := string(o.line)
		o.line = o.line[:0]
		if err := o.control(line); err != nil {
			return err
		}
	}
	return nil
}

func indexByte(p []byte, c byte) int {
	for i, b := range p {
		if b == c {
			return i
		}
	}
	return -1
}

// control handles one control line of the sender.
func (o *SCP) control(line string) error {
	if line == "" {
		return fmt.Errorf("audit: empty scp control line")
	}
	switch line[0] {
	case 'T': // times of the next file: nothing to audit
		return nil
	case 'E':
		if len(o.stack) > 0 {
			o.stack = o.stack[:len(o.stack)-1]
		}
		return nil
	case '\x01', '\x02':
		o.emit(Transfer{Path: o.join(""), Direction: o.dir, Start: o.now(), End: o.now(), Err: strings.TrimSpace(line[1:])})
		return nil
	case 'C', 'D':
		// C0644 SIZE NAME / D0755 0 NAME
		parts := strings.SplitN(line[1:], " ", 3)
		if len(parts) != 3 || parts[2] == "" {
			return fmt.Errorf("audit: scp control line %q is malformed", line)
		}
		size, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil || size < 0 {
			return fmt.Errorf("audit: scp control line %q has a bad size", line)
		}
		if line[0] == 'D' {
			o.stack = append(o.stack, parts[2])
			return nil
		}
		o.cur = &Transfer{Path: o.join(parts[2]), Direction: o.dir, Start: o.now()}
		o.skip = size
		o.ackNo = true
		return nil
	}
	return fmt.Errorf("audit: unknown scp control line %q", line)
}

// join is the path of name (a file in the current directory of the
// exchange).
func (o *SCP) join(name string) string {
	if len(o.stack) == 0 && name != "" {
		if o.dir == Upload {
			if o.toDir {
				return path.Join(o.target, name)
			}
			return o.target
		}
		// -f: the source path names the file, or a glob matched it.
		if path.Base(o.target) == name {
			return o.target
		}
		return path.Join(path.Dir(o.target), name)
	}
	base := o.target
	if o.dir == Download {
		// A directory sent with -r: its own name is the first D line.
		base = path.Dir(o.target)
	} else if !o.toDir {
		base = path.Dir(o.target)
	}
	return path.Join(append(append([]string{base}, o.stack...), name)...)
}

// splitCommand splits a command line as a POSIX shell would for plain
// words, single and double quotes and backslashes (what scp's remote
// command can hold); anything else is an error.
func splitCommand(s string) ([]string, error) {
	var args []string
	var cur strings.Builder
	in := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if in {
				args = append(args, cur.String())
				cur.Reset()
				in = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated quote")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			in = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("$`\"\\\n", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated quote")
			}
			in = true
		case c == '\\':
			if i+1 < len(s) {
				i++
				cur.WriteByte(s[i])
			}
			in = true
		case strings.IndexByte(";&|<>()$`\n", c) >= 0: // globs stay literal: scp -f expands them itself
			return nil, fmt.Errorf("shell syntax %q", c)
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if in {
		args = append(args, cur.String())
	}
	return args, nil
}
