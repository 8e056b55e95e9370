package audit

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLogConcurrentWriters(t *testing.T) {
	l := &Log{Dir: t.TempDir()}
	const writers, each = 16, 200
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				code := i
				// A long command makes lines bigger than a pipe's atomic write.
				if err := l.Write(Entry{Kind: KindExec, User: fmt.Sprint("u", w), Session: fmt.Sprint(w, "-", i),
					Command: strings.Repeat("x", 5000), Exit: &code}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	l.Close()
	es, skipped, err := l.List(Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if skipped != 0 || len(es) != writers*each {
		t.Fatalf("%d entries (%d torn), want %d whole ones", len(es), skipped, writers*each)
	}
	seen := map[string]bool{}
	for _, e := range es {
		seen[e.Session] = true
		if e.Exit == nil || e.Time.IsZero() {
			t.Fatalf("entry %+v lost fields", e)
		}
	}
	if len(seen) != writers*each {
		t.Errorf("%d distinct sessions, want %d", len(seen), writers*each)
	}
}

func TestLogRotationAndFilters(t *testing.T) {
	dir := t.TempDir()
	clock := time.Date(2026, 12, 1, 23, 59, 0, 0, time.UTC)
	l := &Log{Dir: dir, Retain: 48 * time.Hour, now: func() time.Time { return clock }}
	write := func(e Entry) {
		t.Helper()
		if err := l.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	write(Entry{Kind: KindLogin, User: "alice", Session: "a1"})
	// A session that started before midnight, ended after: written after.
	start := clock
	clock = clock.Add(2 * time.Minute)
	write(Entry{Time: start, End: clock, Kind: KindSession, User: "alice", Session: "a1", Container: "web-01"})
	write(Entry{Kind: KindRefused, User: "bob", Container: "db-01", Reason: "no rule"})
	clock = clock.Add(time.Hour)
	write(Entry{Kind: KindFile, User: "alice", Session: "a2", Container: "db-01", Path: "/tmp/x", Direction: Upload, Bytes: 10})

	var files []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		files = append(files, e.Name())
	}
	sort.Strings(files)
	if strings.Join(files, ",") != "audit-2026-12-01.jsonl,audit-2026-12-02.jsonl" {
		t.Fatalf("files %v, want one per day", files)
	}
	count := func(f Filter) int {
		t.Helper()
		es, _, err := l.List(f)
		if err != nil {
			t.Fatal(err)
		}
		return len(es)
	}
	for _, c := range []struct {
		f    Filter
		want int
	}{
		{Filter{}, 4},
		{Filter{User: "alice"}, 3},
		{Filter{Container: "db-01"}, 2},
		{Filter{Session: "a1"}, 2},
		{Filter{Kinds: []string{KindRefused}}, 1},
		{Filter{Since: start.Add(time.Minute)}, 3}, // the session ended after
		{Filter{Since: clock}, 1},
		{Filter{User: "alice", Limit: 1}, 1},
	} {
		if got := count(c.f); got != c.want {
			t.Errorf("List(%+v) = %d entries, want %d", c.f, got, c.want)
		}
	}
	// Rotation prunes the files past Retain.
	clock = clock.Add(72 * time.Hour)
	write(Entry{Kind: KindLogin, User: "carol"})
	ents, _ = os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != "audit-2026-12-05.jsonl" {
		var n []string
		for _, e := range ents {
			n = append(n, e.Name())
		}
		t.Errorf("after 3 days with Retain 48h: %v", n)
	}
}

func TestLogTornLine(t *testing.T) {
	dir := t.TempDir()
	l := &Log{Dir: dir}
	if err := l.Write(Entry{Kind: KindLogin, User: "a"}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	name := filepath.Join(dir, "audit-"+time.Now().UTC().Format(dayLayout)+".jsonl")
	f, _ := os.OpenFile(name, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"Time":"2026-12-02T`)
	f.Close()
	es, skipped, err := l.List(Filter{})
	if err != nil || len(es) != 1 || skipped != 1 {
		t.Errorf("List over a torn line: %d entries, %d skipped, %v", len(es), skipped, err)
	}
}

func TestSessionID(t *testing.T) {
	a := NewSessionID(time.Date(2026, 12, 2, 9, 20, 0, 0, time.UTC))
	b := NewSessionID(time.Date(2026, 12, 2, 9, 20, 0, 0, time.UTC))
	if a == b || !strings.HasPrefix(a, "20261202T092000Z-") || !ValidSessionID(a) {
		t.Errorf("ids %q %q", a, b)
	}
	for _, bad := range []string{"", "../x", ".hidden", "a/b", "a b"} {
		if ValidSessionID(bad) {
			t.Errorf("ValidSessionID(%q) = true", bad)
		}
	}
}
