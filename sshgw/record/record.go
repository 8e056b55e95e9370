package record

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Ext is the file name extension of a recording: Dir/<id>.cast.gz.
const Ext = ".cast.gz"

// Defaults for a zero Limits field.
const (
	DefaultSessionBytes = 64 << 20
	DefaultTotalBytes   = 4 << 30
	DefaultMaxAge       = 90 * 24 * time.Hour
)

// flushEvery is how long written events may wait in the compressor before
// they reach the file (what a crash can lose).
const flushEvery = time.Second

// reserve is kept free under a session's cap for the final marker event,
// the last flush and the gzip trailer.
const reserve = 512

var (
	// ErrCapped: the session reached Limits.SessionBytes; nothing more of it
	// is recorded.
	ErrCapped = errors.New("the session's recording reached its size cap")
	// ErrFull: the recordings being written already hold Limits.TotalBytes
	// between them, so no new one can start.
	ErrFull = errors.New("the recordings directory is full")
	// ErrNotFound: no recording of that id.
	ErrNotFound = errors.New("no such recording")
)

var idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// Limits bound the disk recordings take. Zero fields take the defaults.
type Limits struct {
	// SessionBytes caps one recording's file (compressed bytes on disk).
	SessionBytes int64
	// TotalBytes caps all recordings in Dir: the oldest finished ones are
	// deleted when a new session would pass it.
	TotalBytes int64
	// MaxAge: finished recordings older than this are deleted (Sweep, and
	// at every Start).
	MaxAge time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.SessionBytes <= 0 {
		l.SessionBytes = DefaultSessionBytes
	}
	if l.TotalBytes <= 0 {
		l.TotalBytes = DefaultTotalBytes
	}
	if l.MaxAge <= 0 {
		l.MaxAge = DefaultMaxAge
	}
	return l
}

// Check reports limits that cannot work, with the fix.
func (l Limits) Check() error {
	l = l.withDefaults()
	if l.SessionBytes < 4*reserve {
		return fmt.Errorf("record: session cap of %d bytes is too small: give at least %d", l.SessionBytes, 4*reserve)
	}
	if l.TotalBytes < l.SessionBytes {
		return fmt.Errorf("record: total cap of %d bytes is below the session cap of %d: raise the total or lower the session cap", l.TotalBytes, l.SessionBytes)
	}
	return nil
}

// Recorder writes session recordings into Dir. Its fields are set before
// first use and not changed after; it is safe for concurrent use and must
// not be copied after first use. One process per Dir.
type Recorder struct {
	Dir    string
	Limits Limits

	mu     sync.Mutex
	loaded bool
	// done: finished recordings in Dir (id → size, modification time).
	done map[string]fileInfo
	// active: recordings being written, each reserving its session cap.
	active map[string]bool
}

type fileInfo struct {
	size int64
	mod  time.Time
}

// Path is the file of recording id (whether or not it exists).
func (r *Recorder) Path(id string) (string, error) {
	if !idRE.MatchString(id) {
		return "", fmt.Errorf("record: invalid session id %q: use letters, digits, '.', '_' and '-' (at most 128)", id)
	}
	return filepath.Join(r.Dir, id+Ext), nil
}

// load reads Dir once; r.mu held.
func (r *Recorder) load() error {
	if r.loaded {
		return nil
	}
	if err := os.MkdirAll(r.Dir, 0o700); err != nil {
		return fmt.Errorf("record: make the recordings directory %q: %w", r.Dir, err)
	}
	ents, err := os.ReadDir(r.Dir)
	if err != nil {
		return fmt.Errorf("record: read the recordings directory %q: %w", r.Dir, err)
	}
	r.done = map[string]fileInfo{}
	r.active = map[string]bool{}
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), Ext)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		r.done[id] = fileInfo{fi.Size(), fi.ModTime()}
	}
	r.loaded = true
	return nil
}

// Sweep deletes the finished recordings older than Limits.MaxAge at now and
// returns their ids.
func (r *Recorder) Sweep(now time.Time) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.load(); err != nil {
		return nil, err
	}
	return r.sweep(now)
}

// sweep: r.mu held.
func (r *Recorder) sweep(now time.Time) ([]string, error) {
	lim := r.Limits.withDefaults()
	var gone []string
	var errs []error
	for id, fi := range r.done {
		if now.Sub(fi.mod) > lim.MaxAge {
			if err := r.remove(id); err != nil {
				errs = append(errs, err)
				continue
			}
			gone = append(gone, id)
		}
	}
	sort.Strings(gone)
	return gone, errors.Join(errs...)
}

// remove deletes a finished recording; r.mu held.
func (r *Recorder) remove(id string) error {
	err := os.Remove(filepath.Join(r.Dir, id+Ext))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("record: remove recording %q: %w", id, err)
	}
	delete(r.done, id)
	return nil
}

// Usage is the bytes the finished recordings hold and the bytes the
// active ones may still reach (their caps).
func (r *Recorder) Usage() (finished, reserved int64, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.load(); err != nil {
		return 0, 0, err
	}
	return r.usage()
}

func (r *Recorder) usage() (finished, reserved int64, err error) {
	for _, fi := range r.done {
		finished += fi.size
	}
	return finished, int64(len(r.active)) * r.Limits.withDefaults().SessionBytes, nil
}

// Start begins recording session id (a new id: an existing recording is
// never overwritten) of a terminal of width x height. meta may hold
// "title", "command", "TERM" and "SHELL" (asciicast header fields) and
// anything else, kept under the header's "fatbox" key. Expired recordings
// are swept first, then the oldest finished ones are deleted until this
// session's cap fits under the total; ErrFull if the active sessions'
// caps alone fill it.
func (r *Recorder) Start(id string, width, height int, meta map[string]string) (*Session, error) {
	path, err := r.Path(id)
	if err != nil {
		return nil, err
	}
	lim := r.Limits.withDefaults()
	if err := lim.Check(); err != nil {
		return nil, err
	}
	if width <= 0 || height <= 0 {
		width, height = 80, 24
	}
	now := time.Now()
	r.mu.Lock()
	if err := r.load(); err != nil {
		r.mu.Unlock()
		return nil, err
	}
	if _, ok := r.done[id]; ok || r.active[id] {
		r.mu.Unlock()
		return nil, fmt.Errorf("record: recording %q exists: session ids are never reused", id)
	}
	_, sweepErr := r.sweep(now)
	if err := r.makeRoom(lim); err != nil {
		r.mu.Unlock()
		return nil, errors.Join(err, sweepErr)
	}
	r.active[id] = true
	r.mu.Unlock()

	s, err := r.open(path, id, width, height, meta, now, lim)
	if err != nil {
		r.mu.Lock()
		delete(r.active, id)
		r.mu.Unlock()
		return nil, err
	}
	return s, nil
}

// makeRoom deletes the oldest finished recordings until one more session
// cap fits under the total; r.mu held.
func (r *Recorder) makeRoom(lim Limits) error {
	finished, reserved, _ := r.usage()
	if reserved+lim.SessionBytes > lim.TotalBytes {
		return fmt.Errorf("record: %d sessions are being recorded, each allowed %d bytes, and a new one would pass the total cap of %d: raise the total cap or wait for sessions to end: %w",
			len(r.active), lim.SessionBytes, lim.TotalBytes, ErrFull)
	}
	if finished+reserved+lim.SessionBytes <= lim.TotalBytes {
		return nil
	}
	ids := make([]string, 0, len(r.done))
	for id := range r.done {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		a, b := r.done[ids[i]], r.done[ids[j]]
		if !a.mod.Equal(b.mod) {
			return a.mod.Before(b.mod)
		}
		return ids[i] < ids[j]
	})
	var errs []error
	for _, id := range ids {
		if finished+reserved+lim.SessionBytes <= lim.TotalBytes {
			break
		}
		size := r.done[id].size
		if err := r.remove(id); err != nil {
			errs = append(errs, err)
			continue
		}
		finished -= size
	}
	if finished+reserved+lim.SessionBytes > lim.TotalBytes {
		return fmt.Errorf("record: old recordings could not be deleted to make room (total cap %d bytes): %w", lim.TotalBytes, errors.Join(append(errs, ErrFull)...))
	}
	return nil
}

// finish moves a session from active to done; called by Session.Close.
func (r *Recorder) finish(id string, size int64, mod time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.active, id)
	r.done[id] = fileInfo{size, mod}
}

// Header is the asciicast v2 header line.
type Header struct {
	Version   int               `json:"version"`
	Width     int               `json:"width"`
	Height    int               `json:"height"`
	Timestamp int64             `json:"timestamp"`
	Title     string            `json:"title,omitempty"`
	Command   string            `json:"command,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
	Fatbox    map[string]string `json:"fatbox,omitempty"`
}

func (r *Recorder) open(path, id string, width, height int, meta map[string]string, now time.Time, lim Limits) (*Session, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("record: create recording %q: %w", id, err)
	}
	s := &Session{r: r, id: id, f: f, start: now, limit: lim.SessionBytes, done: make(chan struct{})}
	s.cw = &countWriter{w: f}
	s.gz = gzip.NewWriter(s.cw)
	h := Header{Version: 2, Width: width, Height: height, Timestamp: now.Unix()}
	for k, v := range meta {
		switch k {
		case "title":
			h.Title = v
		case "command":
			h.Command = v
		case "TERM", "SHELL":
			if h.Env == nil {
				h.Env = map[string]string{}
			}
			h.Env[k] = v
		default:
			if h.Fatbox == nil {
				h.Fatbox = map[string]string{}
			}
			h.Fatbox[k] = v
		}
	}
	line, err := json.Marshal(h)
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("record: header of %q: %w", id, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.writeLocked(append(line, '\n')) || s.flushLocked() != nil {
		err := s.err
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return s, nil
}

// countWriter counts the bytes that reach the file.
type countWriter struct {
	w interface{ Write([]byte) (int, error) }
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Session is one recording being written. Its methods are safe for
// concurrent use (output and input come from different goroutines).
type Session struct {
	r     *Recorder
	id    string
	start time.Time
	limit int64

	mu      sync.Mutex
	f       *os.File
	cw      *countWriter
	gz      *gzip.Writer
	pending int64 // bytes given to gz since its last flush
	timer   *time.Timer
	// carry holds an incomplete UTF-8 sequence at the end of a stream's
	// last chunk: index 0 output, 1 input.
	carry  [2][]byte
	err    error // ErrCapped, or the write error that stopped the recording
	closed bool
	done   chan struct{} // closed when err is set
}

// ID is the session id the recording was started with.
func (s *Session) ID() string { return s.id }

// Output records bytes the session printed. Once the session is no
// longer recorded (its cap was reached, or writing failed) nothing more
// is written: Done is closed and Err says why; the caller ends the
// session then.
func (s *Session) Output(p []byte) { s.event(0, "o", p) }

// Input records bytes the user typed, as "i" events (asciinema play
// shows output only; the input stays in the file).
func (s *Session) Input(p []byte) { s.event(1, "i", p) }

// Resize records a terminal size change as an "r" event.
func (s *Session) Resize(w, h int) { s.eventString("r", fmt.Sprintf("%dx%d", w, h)) }

// Done is closed once the session is no longer recorded (cap or error).
func (s *Session) Done() <-chan struct{} { return s.done }

// Recording reports whether the session is still being recorded.
func (s *Session) Recording() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err == nil && !s.closed
}

// Capped reports whether the session reached its cap.
func (s *Session) Capped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Is(s.err, ErrCapped)
}

// Err is why the session stopped being recorded (ErrCapped, or a write
// error), nil while it is.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *Session) event(stream int, kind string, p []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil || s.closed {
		return false
	}
	if len(p) == 0 {
		return true
	}
	data := p
	if c := s.carry[stream]; len(c) > 0 {
		data = append(append([]byte(nil), c...), p...)
		s.carry[stream] = nil
	}
	cut := incompleteTail(data)
	if cut < len(data) {
		s.carry[stream] = append([]byte(nil), data[cut:]...)
		data = data[:cut]
	}
	if len(data) == 0 {
		return true
	}
	return s.eventLocked(kind, string(data))
}

func (s *Session) eventString(kind, data string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil || s.closed {
		return false
	}
	return s.eventLocked(kind, data)
}

// incompleteTail is where a UTF-8 sequence cut short at the end of b
// starts (len(b) when b ends on a whole character or invalid bytes).
func incompleteTail(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-3; i-- {
		c := b[i]
		if c < 0x80 {
			return len(b)
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(b[i:]) {
				return i
			}
			return len(b)
		}
	}
	return len(b)
}

// eventLocked writes one event line, or the cap marker when it would not
// fit; s.mu held.
func (s *Session) eventLocked(kind, data string) bool {
	line := s.line(kind, data)
	if !s.fits(int64(len(line))) {
		s.capLocked()
		return false
	}
	return s.writeLocked(line)
}

func (s *Session) line(kind, data string) []byte {
	t := time.Since(s.start).Seconds()
	ev, _ := json.Marshal([]any{json.Number(fmt.Sprintf("%.6f", t)), kind, data})
	return append(ev, '\n')
}

// fits reports whether n more bytes keep the file under the cap with the
// reserve left. The compressor's pending input is counted as if it did not
// compress (deflate never grows data by more than a few bytes per block);
// when that does not fit, a flush learns the real size first.
func (s *Session) fits(n int64) bool {
	worst := func() int64 { return s.cw.n + s.pending + n + n/1000 + 16 + reserve }
	if worst() <= s.limit {
		return true
	}
	if s.flushLocked() != nil {
		return false
	}
	return worst() <= s.limit
}

// capLocked writes the final marker (visible when played) and stops.
func (s *Session) capLocked() {
	msg := fmt.Sprintf("\r\n[fatbox: recording stopped: the session reached its cap of %d bytes]\r\n", s.limit)
	if s.writeLocked(s.line("o", msg)) {
		_ = s.flushLocked()
	}
	s.fail(fmt.Errorf("record: session %q: %w", s.id, ErrCapped))
}

// fail sets the reason the recording stopped (the first one) and closes
// Done; s.mu held.
func (s *Session) fail(err error) {
	if s.err == nil {
		s.err = err
		close(s.done)
	}
}

func (s *Session) writeLocked(b []byte) bool {
	if _, err := s.gz.Write(b); err != nil {
		s.fail(fmt.Errorf("record: write recording %q: %w", s.id, err))
		return false
	}
	s.pending += int64(len(b))
	if s.timer == nil {
		s.timer = time.AfterFunc(flushEvery, s.timedFlush)
	}
	return true
}

func (s *Session) timedFlush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.timer = nil
	if !s.closed {
		_ = s.flushLocked()
	}
}

// flushLocked pushes what the compressor holds to the file, so a crash
// leaves a readable prefix.
func (s *Session) flushLocked() error {
	if s.pending == 0 {
		return nil
	}
	if err := s.gz.Flush(); err != nil {
		s.fail(fmt.Errorf("record: write recording %q: %w", s.id, err))
		return err
	}
	s.pending = 0
	return nil
}

// Close ends the recording (the gzip trailer, the file closed) and returns
// the first write error, if any; reaching the cap is not one. A second
// Close returns nil.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	// Bytes of an incomplete character at the very end are written as is
	// (JSON turns them into U+FFFD), if they fit.
	for i, kind := range []string{"o", "i"} {
		if c := s.carry[i]; len(c) > 0 && s.err == nil {
			if line := s.line(kind, string(c)); s.fits(int64(len(line))) {
				s.writeLocked(line)
			}
		}
	}
	werr := s.err
	if errors.Is(werr, ErrCapped) {
		werr = nil
	}
	cerr := s.gz.Close()
	if werr == nil && cerr != nil {
		werr = fmt.Errorf("record: finish recording %q: %w", s.id, cerr)
	}
	if err := s.f.Close(); werr == nil && err != nil {
		werr = fmt.Errorf("record: close recording %q: %w", s.id, err)
	}
	size, mod := s.cw.n, time.Now()
	if fi, err := os.Stat(s.f.Name()); err == nil {
		size, mod = fi.Size(), fi.ModTime()
	}
	s.mu.Unlock()
	s.r.finish(s.id, size, mod)
	return werr
}
