package api

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
)

// readAll reads frames until r ends cleanly, failing on any other error.
func readAll(t *testing.T, r io.Reader) (kinds []byte, payloads [][]byte) {
	t.Helper()
	for {
		k, p, err := ReadFrame(r)
		if errors.Is(err, io.EOF) {
			return kinds, payloads
		}
		if err != nil {
			t.Fatalf("ReadFrame after %d frames: %v", len(kinds), err)
		}
		kinds = append(kinds, k)
		payloads = append(payloads, p)
	}
}

// A payload of any size comes back whole, as frames the reader accepts:
// none over maxFrame, split only when it must be.
func TestFrameRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 5, stdinChunk, maxFrame - 1, maxFrame, maxFrame + 1, 2*maxFrame + 5} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			payload := make([]byte, n)
			for i := range payload {
				payload[i] = byte(i*7 + i>>16)
			}
			var buf bytes.Buffer
			fw := &FrameWriter{W: &buf}
			if err := fw.Write(FrameStdout, payload); err != nil {
				t.Fatal(err)
			}
			kinds, ps := readAll(t, &buf)
			var got []byte
			for i, p := range ps {
				if kinds[i] != FrameStdout {
					t.Errorf("frame %d has kind %q, want %q", i, kinds[i], FrameStdout)
				}
				if len(p) > maxFrame {
					t.Errorf("frame %d carries %d bytes, over maxFrame %d", i, len(p), maxFrame)
				}
				if len(ps) > 1 && len(p) == 0 {
					t.Errorf("frame %d of a split payload is empty", i)
				}
				got = append(got, p...)
			}
			if !bytes.Equal(got, payload) {
				t.Fatalf("payload of %d bytes came back as %d different bytes", n, len(got))
			}
			switch {
			case n < maxFrame && len(ps) != 1:
				t.Errorf("%d bytes (under maxFrame) sent as %d frames, want 1", n, len(ps))
			case n >= maxFrame && len(ps) < 2:
				t.Errorf("%d bytes (at or over maxFrame) sent as %d frame, want a split", n, len(ps))
			case len(ps) > n/(maxFrame-1)+1:
				t.Errorf("%d bytes sent as %d frames: split more than needed", n, len(ps))
			}
		})
	}
}

// The header is one kind byte and a big-endian uint32 length: the wire
// format other clients (the web console to come) implement by hand.
func TestFrameWireFormat(t *testing.T) {
	var buf bytes.Buffer
	fw := &FrameWriter{W: &buf}
	if err := fw.Write(FrameResize, []byte{0, 80, 0, 24}); err != nil {
		t.Fatal(err)
	}
	if err := fw.Write(FrameStdinEOF, nil); err != nil {
		t.Fatal(err)
	}
	want := []byte{'r', 0, 0, 0, 4, 0, 80, 0, 24, 'I', 0, 0, 0, 0}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("wire bytes %v, want %v", buf.Bytes(), want)
	}
}

func header(kind byte, n uint32) []byte {
	h := []byte{kind, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(h[1:], n)
	return h
}

// A frame whose header claims more than maxFrame is refused from the
// header alone: the payload is never read (nor allocated).
func TestReadFrameLimit(t *testing.T) {
	for _, n := range []uint32{maxFrame + 1, 1 << 31, ^uint32(0)} {
		_, _, err := ReadFrame(bytes.NewReader(header(FrameStdout, n)))
		if err == nil || !strings.Contains(err.Error(), "over the limit") {
			t.Errorf("header of %d bytes: error %v, want one saying it is over the limit", n, err)
		}
	}
	// maxFrame itself is allowed: another writer may use it.
	in := append(header(FrameStderr, maxFrame), make([]byte, maxFrame)...)
	k, p, err := ReadFrame(bytes.NewReader(in))
	if err != nil || k != FrameStderr || len(p) != maxFrame {
		t.Fatalf("frame of exactly maxFrame: kind %q, %d bytes, %v", k, len(p), err)
	}
}

func TestReadFrameTruncated(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []byte
		want error
	}{
		{"nothing", nil, io.EOF},
		{"part of a header", []byte{'o', 0, 0}, io.ErrUnexpectedEOF},
		{"part of a payload", append(header(FrameStdout, 10), "abcd"...), io.ErrUnexpectedEOF},
	} {
		_, _, err := ReadFrame(bytes.NewReader(c.in))
		if !errors.Is(err, c.want) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.want)
		}
	}
}

// Writers on many goroutines (stdout, stderr, credit) never interleave
// inside a frame.
func TestFrameWriterConcurrent(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	fw := &FrameWriter{W: a}
	const writers, frames = 6, 40
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			kind := byte('A' + w)
			for i := range frames {
				// Sizes vary so that partial writes would show.
				p := bytes.Repeat([]byte{kind}, 1+(i*977+w*131)%5000)
				if fw.Write(kind, p) != nil {
					return // the count below shows it
				}
			}
		}()
	}
	go func() { wg.Wait(); a.Close() }()
	count := map[byte]int{}
	for {
		k, p, err := ReadFrame(b)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("after %v: %v", count, err)
		}
		if len(p) == 0 || bytes.Count(p, []byte{k}) != len(p) {
			t.Fatalf("frame of kind %q carries bytes of another writer", k)
		}
		count[k]++
	}
	for w := range writers {
		if k := byte('A' + w); count[k] != frames {
			t.Errorf("writer %q: %d frames arrived, want %d", k, count[k], frames)
		}
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

func TestFrameStream(t *testing.T) {
	var buf bytes.Buffer
	fw := &FrameWriter{W: &buf}
	s := fw.Stream(FrameStderr)
	if n, err := s.Write(nil); n != 0 || err != nil || buf.Len() != 0 {
		t.Fatalf("empty write: %d, %v, %d bytes on the wire; want nothing sent", n, err, buf.Len())
	}
	if n, err := s.Write([]byte("warn\n")); n != 5 || err != nil {
		t.Fatalf("write: %d, %v", n, err)
	}
	k, p, err := ReadFrame(&buf)
	if err != nil || k != FrameStderr || string(p) != "warn\n" {
		t.Fatalf("got %q %q %v", k, p, err)
	}
	broken := errors.New("connection reset")
	fw = &FrameWriter{W: failWriter{broken}}
	if n, err := fw.Stream(FrameStdout).Write([]byte("x")); n != 0 || !errors.Is(err, broken) {
		t.Fatalf("write on a broken connection: %d, %v; want 0 and its error", n, err)
	}
}
