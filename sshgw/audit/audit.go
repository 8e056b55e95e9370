package audit

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// Kinds of entries.
const (
	KindLogin   = "login"   // a user authenticated to the gateway
	KindRefused = "refused" // a login, channel or target the gateway refused (Reason says why)
	KindSession = "session" // an interactive session, written when it ends
	KindExec    = "exec"    // a command run without a terminal, written when it ends
	KindFile    = "file"    // a file moved by sftp or scp (Path, Direction, Bytes)
	KindForward = "forward" // a port forward (direct-tcpip), written when it ends
)

// Directions of a KindFile entry.
const (
	Upload   = "upload"   // client → container
	Download = "download" // container → client
	Remove   = "remove"
	Rename   = "rename" // Path is "old -> new"
)

// Entry is one audit line.
type Entry struct {
	Time time.Time
	End  time.Time `json:",omitzero"`
	Kind string
	// Session ties the entries of one SSH connection (and names its
	// recording); User is the gateway user, From the client's address,
	// Container and Login where it went, Channel the SSH channel type or
	// subsystem (shell, exec, sftp, direct-tcpip, ...).
	Session, User, From, Container, Login, Channel string `json:",omitempty"`
	Command, Path, Direction, Reason               string `json:",omitempty"`
	Bytes                                          int64  `json:",omitempty"`
	Exit                                           *int   `json:",omitempty"`
}

// filePrefix and fileExt frame a day's file: audit-2006-01-02.jsonl.
const (
	filePrefix = "audit-"
	fileExt    = ".jsonl"
	dayLayout  = "2006-01-02"
)

var dayFileRE = regexp.MustCompile(`^audit-(\d{4}-\d{2}-\d{2})\.jsonl$`)

// ErrNotFound: no entries of a session.
var ErrNotFound = errors.New("no audit entries")

// Log is the audit log: JSON lines in Dir, one file per UTC day
// (audit-YYYY-MM-DD.jsonl, by the time a line is written). Safe for
// concurrent writers in one process; not to be copied after first use.
// Retain > 0 removes day files older than that (Prune, and at each day's
// first write).
type Log struct {
	Dir    string
	Retain time.Duration

	mu  sync.Mutex
	day string
	f   *os.File
	now func() time.Time // tests
}

func (l *Log) clock() time.Time {
	if l.now != nil {
		return l.now()
	}
	return time.Now()
}

// Write appends e as one line (Time set to now when zero). The line
// reaches the file in one write(2) with O_APPEND; it is not fsynced.
func (l *Log) Write(e Entry) error {
	now := l.clock().UTC()
	if e.Time.IsZero() {
		e.Time = now
	}
	if e.Kind == "" {
		return errors.New("audit: an entry needs a Kind")
	}
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("audit: encode entry: %w", err)
	}
	line = append(line, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	day := now.Format(dayLayout)
	if l.f == nil || l.day != day {
		if err := l.rotate(day, now); err != nil {
			return err
		}
	}
	if _, err := l.f.Write(line); err != nil {
		return fmt.Errorf("audit: write %q: %w", l.f.Name(), err)
	}
	return nil
}

// rotate opens day's file; l.mu held.
func (l *Log) rotate(day string, now time.Time) error {
	if l.f != nil {
		_ = l.f.Close()
		l.f = nil
	}
	if err := os.MkdirAll(l.Dir, 0o700); err != nil {
		return fmt.Errorf("audit: make the audit directory %q: %w", l.Dir, err)
	}
	f, err := os.OpenFile(filepath.Join(l.Dir, filePrefix+day+fileExt), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("audit: open the day's log: %w", err)
	}
	l.f, l.day = f, day
	if l.Retain > 0 {
		if _, err := l.prune(now); err != nil {
			return err
		}
	}
	return nil
}

// Close closes the open day file; a later Write opens it again.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// Prune removes the day files whose whole day ended more than Retain
// before now, and returns their names. Retain 0 keeps everything.
func (l *Log) Prune(now time.Time) ([]string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.prune(now)
}

func (l *Log) prune(now time.Time) ([]string, error) {
	if l.Retain <= 0 {
		return nil, nil
	}
	days, err := l.days()
	if err != nil {
		return nil, err
	}
	var gone []string
	var errs []error
	for _, d := range days {
		t, _ := time.Parse(dayLayout, d)
		if now.Sub(t.Add(24*time.Hour)) <= l.Retain || d == l.day {
			continue
		}
		name := filePrefix + d + fileExt
		if err := os.Remove(filepath.Join(l.Dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("audit: prune %q: %w", name, err))
			continue
		}
		gone = append(gone, name)
	}
	return gone, errors.Join(errs...)
}

// days lists the days that have a file, oldest first.
func (l *Log) days() ([]string, error) {
	ents, err := os.ReadDir(l.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit: read the audit directory %q: %w", l.Dir, err)
	}
	var days []string
	for _, e := range ents {
		if m := dayFileRE.FindStringSubmatch(e.Name()); m != nil && e.Type().IsRegular() {
			days = append(days, m[1])
		}
	}
	sort.Strings(days)
	return days, nil
}

// Filter selects entries; zero fields select all.
type Filter struct {
	User, Container, Session string
	Kinds                    []string
	// Since: entries that started or ended at or after it.
	Since time.Time
	// Limit keeps the last Limit entries (0: all).
	Limit int
}

func (f Filter) match(e *Entry) bool {
	if f.User != "" && e.User != f.User ||
		f.Container != "" && e.Container != f.Container ||
		f.Session != "" && e.Session != f.Session {
		return false
	}
	if len(f.Kinds) > 0 && !contains(f.Kinds, e.Kind) {
		return false
	}
	if !f.Since.IsZero() && e.Time.Before(f.Since) && (e.End.IsZero() || e.End.Before(f.Since)) {
		return false
	}
	return true
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// List returns the entries matching f in the order they were written
// (files from Since's day on; a line is in the file of the day it was
// written, which is never before its Time or End). A line that does not
// parse (a torn last line after a crash) is skipped and counted.
func (l *Log) List(f Filter) (entries []Entry, skipped int, err error) {
	days, err := l.days()
	if err != nil {
		return nil, 0, err
	}
	from := ""
	if !f.Since.IsZero() {
		from = f.Since.UTC().Format(dayLayout)
	}
	for _, d := range days {
		if d < from {
			continue
		}
		n, err := l.scan(filepath.Join(l.Dir, filePrefix+d+fileExt), func(e *Entry) {
			if f.match(e) {
				entries = append(entries, *e)
				if f.Limit > 0 && len(entries) > 2*f.Limit {
					entries = append(entries[:0], entries[len(entries)-f.Limit:]...)
				}
			}
		})
		skipped += n
		if err != nil {
			return nil, skipped, err
		}
	}
	if f.Limit > 0 && len(entries) > f.Limit {
		entries = entries[len(entries)-f.Limit:]
	}
	return entries, skipped, nil
}

func (l *Log) scan(path string, fn func(*Entry)) (skipped int, err error) {
	fh, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil // pruned meanwhile
	}
	if err != nil {
		return 0, fmt.Errorf("audit: open %q: %w", path, err)
	}
	defer fh.Close()
	br := bufio.NewReaderSize(fh, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			var e Entry
			if json.Unmarshal(line, &e) != nil || e.Kind == "" {
				skipped++
			} else {
				fn(&e)
			}
		}
		if err == io.EOF {
			return skipped, nil
		}
		if err != nil {
			return skipped, fmt.Errorf("audit: read %q: %w", path, err)
		}
	}
}

// NewSessionID returns a new session id: the UTC time to the second and
// 8 random hex digits (20261202T092000Z-3f9a1c2b), so ids sort by start
// and are usable as file names (a recording is <id>.cast.gz).
func NewSessionID(t time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return t.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// ValidSessionID reports whether id is shaped like NewSessionID's ids
// (or any id of letters, digits, '.', '_', '-'), so it is safe as a file name.
func ValidSessionID(id string) bool {
	return id != "" && len(id) <= 128 && !strings.HasPrefix(id, ".") && strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == ""
}
