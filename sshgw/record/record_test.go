package record

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fatbox/fatbox/test/harness"
)

// readBack decompresses and parses recording id.
func readBack(t *testing.T, r *Recorder, id string) (Header, []Event, bool) {
	t.Helper()
	f, err := r.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var buf bytes.Buffer
	trunc, err := Decompress(&buf, f)
	if err != nil {
		t.Fatal(err)
	}
	h, evs, err := Parse(&buf)
	if err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	return h, evs, trunc
}

func TestRecordRoundTrip(t *testing.T) {
	r := &Recorder{Dir: t.TempDir()}
	s, err := r.Start("s1", 132, 43, map[string]string{"title": "alice@web-01", "TERM": "xterm", "user": "alice"})
	if err != nil {
		t.Fatal(err)
	}
	s.Output([]byte("$ "))
	s.Input([]byte("echo h\xc3")) // "é" split across two writes
	s.Input([]byte("\xa9\r"))     // ... and completed
	s.Output([]byte("h\xe2\x82")) // "€" split
	s.Output([]byte("\xac\r\n"))  // ...
	s.Resize(100, 30)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s.Output([]byte("late"))
	if s.Recording() {
		t.Error("recording after Close")
	}
	h, evs, trunc := readBack(t, r, "s1")
	if trunc {
		t.Error("a closed recording reads as truncated")
	}
	if h.Version != 2 || h.Width != 132 || h.Height != 43 || h.Title != "alice@web-01" || h.Env["TERM"] != "xterm" || h.Fatbox["user"] != "alice" || h.Timestamp == 0 {
		t.Errorf("header %+v", h)
	}
	var got []string
	for i, e := range evs {
		got = append(got, e.Kind+":"+e.Data)
		if i > 0 && e.Time < evs[i-1].Time {
			t.Errorf("event %d goes back in time", i)
		}
	}
	want := []string{"o:$ ", "i:echo h", "i:é\r", "o:h", "o:€\r\n", "r:100x30"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("events\n got %q\nwant %q", got, want)
	}
	if _, err := r.Start("s1", 80, 24, nil); err == nil {
		t.Error("a second Start of the same id succeeded")
	}
	if _, err := r.Start("../x", 80, 24, nil); err == nil {
		t.Error("an id with a slash was accepted")
	}
}

// TestRecordCap writes without end, incompressible and compressible
// output: the file never passes the cap, the end is the marker, and
// Output says stop.
func TestRecordCap(t *testing.T) {
	for _, kind := range []string{"random", "text"} {
		t.Run(kind, func(t *testing.T) {
			const limit = 64 << 10
			r := &Recorder{Dir: t.TempDir(), Limits: Limits{SessionBytes: limit, TotalBytes: 4 * limit}}
			s, err := r.Start("endless", 80, 24, nil)
			if err != nil {
				t.Fatal(err)
			}
			chunk := make([]byte, 4096)
			written := 0
			for i := 0; ; i++ {
				if kind == "random" {
					_, _ = rand.Read(chunk)
				} else {
					copy(chunk, bytes.Repeat([]byte("line of a log that repeats "), 200))
				}
				s.Output(chunk)
				if !s.Recording() {
					break
				}
				written += len(chunk)
				if written > 1<<30 {
					t.Fatal("1 GiB recorded under a 64 KiB cap")
				}
				if i%16 == 0 {
					if fi, err := os.Stat(filepath.Join(r.Dir, "endless"+Ext)); err != nil || fi.Size() > limit {
						t.Fatalf("file %v over the cap while writing (%v)", fi.Size(), err)
					}
				}
			}
			if !s.Capped() || !errors.Is(s.Err(), ErrCapped) {
				t.Errorf("Capped %v, Err %v", s.Capped(), s.Err())
			}
			select {
			case <-s.Done():
			default:
				t.Error("Done not closed at the cap")
			}
			s.Output([]byte("more"))
			s.Input([]byte("more"))
			if err := s.Close(); err != nil {
				t.Fatalf("Close after the cap: %v", err)
			}
			fi, err := os.Stat(filepath.Join(r.Dir, "endless"+Ext))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() > limit {
				t.Errorf("recording is %d bytes, over its cap of %d", fi.Size(), limit)
			}
			if fi.Size() < limit/2 {
				t.Errorf("recording stopped at %d bytes, far below its cap of %d", fi.Size(), limit)
			}
			_, evs, _ := readBack(t, r, "endless")
			last := evs[len(evs)-1]
			if last.Kind != "o" || !strings.Contains(last.Data, "reached its cap") {
				t.Errorf("last event %+v, want the cap marker", last)
			}
			if kind == "text" && written < 4*limit {
				t.Errorf("compressible output: only %d bytes recorded under a %d-byte compressed cap", written, limit)
			}
		})
	}
}

func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range ents {
		fi, err := e.Info()
		if err == nil {
			n += fi.Size()
		}
	}
	return n
}

// TestRecordTotalCap: sessions that each write without end, one after
// the other and several at once; the directory never holds more than the
// total, the oldest go first, and a start past the active caps is refused.
func TestRecordTotalCap(t *testing.T) {
	const per, total = 16 << 10, 64 << 10
	dir := t.TempDir()
	r := &Recorder{Dir: dir, Limits: Limits{SessionBytes: per, TotalBytes: total}}
	fill := func(s *Session) {
		buf := make([]byte, 2048)
		for {
			_, _ = rand.Read(buf)
			s.Output(buf)
			if s.Capped() {
				return
			}
		}
	}
	var ids []string
	for i := 0; i < 12; i++ {
		id := "s" + string(rune('a'+i))
		s, err := r.Start(id, 80, 24, nil)
		if err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		fill(s)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		if n := dirSize(t, dir); n > total {
			t.Fatalf("after %d sessions the directory holds %d bytes, over the total cap %d", i+1, n, total)
		}
		time.Sleep(5 * time.Millisecond) // distinct modification times
	}
	// The newest survive, the oldest were deleted.
	if _, err := os.Stat(filepath.Join(dir, ids[len(ids)-1]+Ext)); err != nil {
		t.Errorf("newest recording gone: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ids[0]+Ext)); !os.IsNotExist(err) {
		t.Errorf("oldest recording still there (%v)", err)
	}
	// Active sessions reserve their caps: total/per of them at once, then ErrFull.
	var act []*Session
	for i := 0; i < total/per; i++ {
		s, err := r.Start("act"+string(rune('a'+i)), 80, 24, nil)
		if err != nil {
			t.Fatalf("active %d: %v", i, err)
		}
		act = append(act, s)
	}
	if _, err := r.Start("one-too-many", 80, 24, nil); !errors.Is(err, ErrFull) {
		t.Fatalf("start past the active caps: %v, want ErrFull", err)
	}
	for _, s := range act {
		fill(s)
	}
	if n := dirSize(t, dir); n > total {
		t.Fatalf("with %d endless sessions at once the directory holds %d bytes, over %d", len(act), n, total)
	}
	for _, s := range act {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if s, err := r.Start("after", 80, 24, nil); err != nil {
		t.Fatalf("start once sessions ended: %v", err)
	} else {
		s.Close()
	}
	if n := dirSize(t, dir); n > total {
		t.Fatalf("directory holds %d bytes, over %d", n, total)
	}
}

func TestRecordRetention(t *testing.T) {
	dir := t.TempDir()
	r := &Recorder{Dir: dir, Limits: Limits{MaxAge: time.Hour}}
	for _, id := range []string{"old", "new"} {
		s, err := r.Start(id, 80, 24, nil)
		if err != nil {
			t.Fatal(err)
		}
		s.Output([]byte("x"))
		s.Close()
	}
	// A new Recorder reads the directory with "old" aged two hours.
	past := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "old"+Ext), past, past); err != nil {
		t.Fatal(err)
	}
	r2 := &Recorder{Dir: dir, Limits: Limits{MaxAge: time.Hour}}
	gone, err := r2.Sweep(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(gone, ",") != "old" {
		t.Errorf("swept %q, want old", gone)
	}
	if _, err := os.Stat(filepath.Join(dir, "new"+Ext)); err != nil {
		t.Errorf("recent recording removed: %v", err)
	}
	// Start sweeps too.
	gone, _ = r2.Sweep(time.Now().Add(3 * time.Hour))
	if strings.Join(gone, ",") != "new" {
		t.Errorf("swept %q, want new", gone)
	}
}

// TestRecordCrash: a process killed while recording leaves a file whose
// flushed prefix decompresses and parses.
func TestRecordCrash(t *testing.T) {
	if dir := os.Getenv("FATBOX_RECORD_CRASH_DIR"); dir != "" {
		r := &Recorder{Dir: dir}
		s, err := r.Start("crash", 80, 24, nil)
		if err != nil {
			os.Exit(3)
		}
		for i := 0; ; i++ {
			s.Output([]byte("tick\r\n"))
			if i == 5 {
				os.WriteFile(filepath.Join(dir, "ready"), nil, 0o600)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRecordCrash$")
	cmd.Env = append(os.Environ(), "FATBOX_RECORD_CRASH_DIR="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("the recording process never got going")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // past a flush
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	r := &Recorder{Dir: dir}
	_, evs, trunc := readBack(t, r, "crash")
	if !trunc {
		t.Error("a killed recording did not read as truncated")
	}
	if len(evs) < 6 {
		t.Errorf("%d events survived the kill, want at least 6", len(evs))
	}
	for _, e := range evs {
		if e.Kind != "o" || e.Data != "tick\r\n" {
			t.Errorf("event %+v", e)
		}
	}
}

// TestAsciinemaPlays: asciinema (Debian 12's 2.2) plays a recording with
// input and resize events, printing the output only.
func TestAsciinemaPlays(t *testing.T) {
	bin, err := exec.LookPath("asciinema")
	harness.Require(t, err == nil, "asciinema (apt install asciinema)")
	r := &Recorder{Dir: t.TempDir()}
	s, err := r.Start("play", 80, 24, map[string]string{"title": "t"})
	if err != nil {
		t.Fatal(err)
	}
	s.Output([]byte("$ "))
	s.Input([]byte("echo secret-input\r"))
	s.Resize(100, 40)
	s.Output([]byte("printed-output\r\n"))
	s.Close()
	f, _ := r.Open("play")
	cast := filepath.Join(t.TempDir(), "play.cast")
	out, _ := os.Create(cast)
	if _, err := Decompress(out, f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out.Close()
	cmd := exec.Command(bin, "play", "-i", "0.1", cast)
	cmd.Stdin = nil
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("asciinema play: %v\n%s", err, b)
	}
	if !strings.Contains(string(b), "printed-output") {
		t.Errorf("asciinema play printed %q, want the output", b)
	}
	if strings.Contains(string(b), "secret-input") {
		t.Errorf("asciinema play printed the input stream: %q", b)
	}
	// asciinema cat wants a terminal (it opens /dev/tty): script gives it one.
	scr, err := exec.LookPath("script")
	harness.Require(t, err == nil, "script (util-linux's bsdutils)")
	b, err = exec.Command(scr, "-qec", bin+" cat "+cast, "/dev/null").CombinedOutput()
	if err != nil || !strings.Contains(string(b), "printed-output") || strings.Contains(string(b), "secret-input") {
		t.Fatalf("asciinema cat: %v\n%q", err, b)
	}
}
