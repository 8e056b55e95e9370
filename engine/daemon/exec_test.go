package daemon

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/fatbox/fatbox/engine/api"
)

func newQueue() *stdinQueue {
	q := &stdinQueue{}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// The queue holds what the client sent within its credit: up to
// api.StdinWindow bytes not yet read; a byte more is a client that does
// not follow the protocol.
func TestStdinQueueWindow(t *testing.T) {
	q := newQueue()
	chunk := bytes.Repeat([]byte{'a'}, 32<<10)
	for sent := 0; sent < api.StdinWindow; sent += len(chunk) {
		if !q.push(chunk, false) {
			t.Fatalf("refused at %d bytes, within the window of %d", sent, api.StdinWindow)
		}
	}
	if q.push([]byte{'x'}, false) {
		t.Fatal("a byte beyond the window was queued")
	}
	// Reading gives credit back: after one pop, one chunk fits again.
	q = newQueue()
	for sent := 0; sent < api.StdinWindow; sent += len(chunk) {
		q.push(chunk, false)
	}
	if p, eof, ok := q.pop(); !ok || eof || len(p) != len(chunk) {
		t.Fatalf("pop: %d bytes, eof %v, ok %v", len(p), eof, ok)
	}
	if !q.push(chunk, false) {
		t.Fatal("a chunk within the credit given back was refused")
	}
}

// Frames come out in order, copied (the reader reuses its buffer), then EOF.
func TestStdinQueueOrderAndEOF(t *testing.T) {
	q := newQueue()
	buf := []byte("one")
	q.push(buf, false)
	copy(buf, "XXX") // the frame reader's buffer is reused
	q.push([]byte("two"), false)
	q.push(nil, true)
	for _, want := range []string{"one", "two"} {
		p, eof, ok := q.pop()
		if string(p) != want || eof || !ok {
			t.Fatalf("pop: %q %v %v, want %q", p, eof, ok, want)
		}
	}
	for range 2 { // EOF stays EOF
		if p, eof, ok := q.pop(); p != nil || !eof || !ok {
			t.Fatalf("after the frames: %q %v %v, want EOF", p, eof, ok)
		}
	}
}

// pop waits for a frame; closing the queue (client gone, exec over) ends
// the wait.
func TestStdinQueueWaitAndClose(t *testing.T) {
	q := newQueue()
	got := make(chan string)
	go func() {
		p, _, _ := q.pop()
		got <- string(p)
	}()
	q.push([]byte("late"), false)
	select {
	case p := <-got:
		if p != "late" {
			t.Fatalf("popped %q", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("pop did not wake on push")
	}
	done := make(chan bool)
	go func() {
		_, _, ok := q.pop()
		done <- ok
	}()
	q.close()
	select {
	case ok := <-done:
		if ok {
			t.Fatal("pop on a closed, empty queue said ok")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("pop did not wake on close")
	}
}
