package audit

import (
	"encoding/binary"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"
)

// Transfer is one file operation a tap saw.
type Transfer struct {
	Path      string
	Direction string // Upload, Download, Remove, Rename
	Bytes     int64
	Start     time.Time
	End       time.Time
	// Err is the server's refusal (sftp status message or scp error line),
	// "" when it succeeded or the answer was not seen.
	Err string
}

// Entry is e with t's fields filled in (Kind file).
func (t Transfer) Entry(e Entry) Entry {
	e.Kind = KindFile
	e.Time, e.End = t.Start, t.End
	e.Path, e.Direction, e.Bytes = t.Path, t.Direction, t.Bytes
	e.Reason = t.Err
	return e
}

// SFTP packet types (draft-ietf-secsh-filexfer-02, what OpenSSH speaks).
const (
	fxpInit     = 1
	fxpOpen     = 3
	fxpClose    = 4
	fxpRead     = 5
	fxpWrite    = 6
	fxpRemove   = 13
	fxpRename   = 18
	fxpStatus   = 101
	fxpHandle   = 102
	fxpData     = 103
	fxpExtended = 200

	fxfRead  = 0x1
	fxfWrite = 0x2
)

// maxSmallPacket bounds the packets the tap reads whole (OPEN, CLOSE, ...):
// OpenSSH's sftp-server refuses packets over 256 KiB; names are short.
const maxSmallPacket = 256 << 10

// headLen is the most of a WRITE or DATA packet the tap reads: the length,
// type, id, a handle of at most 256 bytes, an offset and the data length.
const headLen = 4 + 1 + 4 + 4 + 256 + 8 + 4

// SFTP taps both directions of one sftp session.
type SFTP struct {
	mu   sync.Mutex
	emit func(Transfer)
	c2s  sftpStream
	s2c  sftpStream
	now  func() time.Time
	err  error

	opens   map[uint32]pendingOpen // OPEN request id → what was asked
	handles map[string]*openFile
	reads   map[uint32]string // READ request id → handle
	ops     map[uint32]Transfer
}

type pendingOpen struct {
	path  string
	flags uint32
	at    time.Time
}

type openFile struct {
	path        string
	flags       uint32
	start       time.Time
	read, wrote int64
}

// NewSFTP returns a tap calling emit for each transfer it sees end (emit
// is called with the tap's lock held: keep it quick, e.g. Log.Write).
func NewSFTP(emit func(Transfer)) *SFTP {
	o := &SFTP{emit: emit, now: time.Now,
		opens: map[uint32]pendingOpen{}, handles: map[string]*openFile{},
		reads: map[uint32]string{}, ops: map[uint32]Transfer{}}
	o.c2s.packet = o.request
	o.s2c.packet = o.response
	return o
}

// ClientToServer is the writer for the bytes the client sends.
func (o *SFTP) ClientToServer() io.Writer { return tapWriter{o, &o.c2s} }

// ServerToClient is the writer for the bytes the server sends.
func (o *SFTP) ServerToClient() io.Writer { return tapWriter{o, &o.s2c} }

// Err is why the tap stopped parsing, nil while it parses.
func (o *SFTP) Err() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

// Close emits the files still open (a session cut short) and stops the tap.
func (o *SFTP) Close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	hs := make([]string, 0, len(o.handles))
	for h := range o.handles {
		hs = append(hs, h)
	}
	sort.Strings(hs)
	for _, h := range hs {
		o.finish(h, "the session ended with the file open")
	}
	if o.err == nil {
		o.err = errClosed
	}
}

var errClosed = fmt.Errorf("audit: sftp tap closed")

type tapWriter struct {
	o *SFTP
	s *sftpStream
}

func (w tapWriter) Write(p []byte) (int, error) {
	w.o.mu.Lock()
	defer w.o.mu.Unlock()
	if w.o.err == nil {
		if err := w.s.feed(p); err != nil {
			w.o.err = err
		}
	}
	return len(p), nil
}

// sftpStream splits one direction into packets, reading only their heads.
type sftpStream struct {
	packet func(typ byte, body []byte, full bool) error
	buf    []byte // the head being gathered (starts with the length)
	need   int    // bytes of head wanted in buf
	skip   int64  // payload bytes to pass over after the head
}

func (s *sftpStream) feed(p []byte) error {
	for len(p) > 0 {
		if s.skip > 0 {
			n := min(int64(len(p)), s.skip)
			s.skip -= n
			p = p[n:]
			continue
		}
		if s.need == 0 {
			s.need = 5
			s.buf = s.buf[:0]
		}
		n := min(len(p), s.need-len(s.buf))
		s.buf = append(s.buf, p[:n]...)
		p = p[n:]
		if len(s.buf) < s.need {
			return nil
		}
		length := int64(binary.BigEndian.Uint32(s.buf))
		if length < 1 {
			return fmt.Errorf("audit: sftp packet of length %d", length)
		}
		typ := s.buf[4]
		if s.need == 5 {
			want := length + 4
			if typ == fxpWrite || typ == fxpData {
				want = min(want, headLen)
			} else if want > maxSmallPacket {
				return fmt.Errorf("audit: sftp packet of type %d is %d bytes: not sftp?", typ, length)
			}
			if int(want) > 5 {
				s.need = int(want)
				continue
			}
		}
		full := int64(len(s.buf)) == length+4
		s.skip = length + 4 - int64(len(s.buf))
		s.need = 0
		if err := s.packet(typ, s.buf[5:], full); err != nil {
			return err
		}
	}
	return nil
}

// sftp field readers over a packet body.
type fields struct {
	b   []byte
	bad bool
}

func (f *fields) u32() uint32 {
	if len(f.b) < 4 {
		f.bad = true
		return 0
	}
	v := binary.BigEndian.Uint32(f.b)
	f.b = f.b[4:]
	return v
}

func (f *fields) u64() uint64 {
	if len(f.b) < 8 {
		f.bad = true
		return 0
	}
	v := binary.BigEndian.Uint64(f.b)
	f.b = f.b[8:]
	return v
}

func (f *fields) str() string {
	n := f.u32()
	if f.bad || int64(n) > int64(len(f.b)) {
		f.bad = true
		return ""
	}
	s := string(f.b[:n])
	f.b = f.b[n:]
	return s
}

// request handles a client→server packet.
func (o *SFTP) request(typ byte, body []byte, _ bool) error {
	f := fields{b: body}
	switch typ {
	case fxpInit:
		return nil
	case fxpOpen:
		id := f.u32()
		path := f.str()
		flags := f.u32()
		if !f.bad {
			o.opens[id] = pendingOpen{path, flags, o.now()}
		}
	case fxpRead:
		id := f.u32()
		h := f.str()
		if !f.bad {
			if _, ok := o.handles[h]; ok {
				o.reads[id] = h
			}
		}
	case fxpWrite:
		_ = f.u32()
		h := f.str()
		_ = f.u64()
		n := f.u32()
		if !f.bad {
			if of, ok := o.handles[h]; ok {
				of.wrote += int64(n)
			}
		}
	case fxpClose:
		_ = f.u32()
		h := f.str()
		if !f.bad {
			o.finish(h, "")
		}
	case fxpRemove:
		id := f.u32()
		path := f.str()
		if !f.bad {
			o.ops[id] = Transfer{Path: path, Direction: Remove, Start: o.now()}
		}
	case fxpRename:
		id := f.u32()
		from := f.str()
		to := f.str()
		if !f.bad {
			o.ops[id] = Transfer{Path: from + " -> " + to, Direction: Rename, Start: o.now()}
		}
	case fxpExtended:
		id := f.u32()
		name := f.str()
		if name == "posix-rename@openssh.com" {
			from := f.str()
			to := f.str()
			if !f.bad {
				o.ops[id] = Transfer{Path: from + " -> " + to, Direction: Rename, Start: o.now()}
			}
		}
		return nil
	}
	if f.bad {
		return fmt.Errorf("audit: sftp request of type %d is malformed", typ)
	}
	return nil
}

// response handles a server→client packet.
func (o *SFTP) response(typ byte, body []byte, _ bool) error {
	f := fields{b: body}
	switch typ {
	case fxpHandle:
		id := f.u32()
		h := f.str()
		if f.bad {
			return fmt.Errorf("audit: sftp HANDLE reply is malformed")
		}
		if p, ok := o.opens[id]; ok {
			delete(o.opens, id)
			o.handles[h] = &openFile{path: p.path, flags: p.flags, start: p.at}
		}
	case fxpData:
		id := f.u32()
		n := f.u32()
		if f.bad {
			return fmt.Errorf("audit: sftp DATA reply is malformed")
		}
		if h, ok := o.reads[id]; ok {
			delete(o.reads, id)
			if of, ok := o.handles[h]; ok {
				of.read += int64(n)
			}
		}
	case fxpStatus:
		id := f.u32()
		code := f.u32()
		msg := f.str()
		if f.bad && len(body) < 8 {
			return fmt.Errorf("audit: sftp STATUS reply is malformed")
		}
		delete(o.reads, id) // EOF or an error ends a read
		if p, ok := o.opens[id]; ok {
			// An open refused: audited as a transfer that moved nothing.
			delete(o.opens, id)
			dir := Download
			if p.flags&fxfWrite != 0 {
				dir = Upload
			}
			o.emit(Transfer{Path: p.path, Direction: dir, Start: p.at, End: o.now(), Err: statusText(code, msg)})
		}
		if t, ok := o.ops[id]; ok {
			delete(o.ops, id)
			t.End = o.now()
			if code != 0 {
				t.Err = statusText(code, msg)
			}
			o.emit(t)
		}
	}
	return nil
}

func statusText(code uint32, msg string) string {
	if msg != "" {
		return msg
	}
	return fmt.Sprintf("sftp status %d", code)
}

// finish emits an open file's transfer; o.mu held.
func (o *SFTP) finish(h, why string) {
	of, ok := o.handles[h]
	if !ok {
		return
	}
	delete(o.handles, h)
	t := Transfer{Path: of.path, Start: of.start, End: o.now(), Err: why}
	switch {
	case of.wrote > 0 || of.read == 0 && of.flags&fxfWrite != 0:
		t.Direction, t.Bytes = Upload, of.wrote
	default:
		t.Direction, t.Bytes = Download, of.read
	}
	o.emit(t)
}
