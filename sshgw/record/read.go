package record

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// Event is one asciicast v2 event: seconds since the start, its kind ("o"
// output, "i" input, "r" resize as "COLSxROWS") and its data.
type Event struct {
	Time float64
	Kind string
	Data string
}

// Open returns recording id's file, still compressed.
func (r *Recorder) Open(id string) (*os.File, error) {
	path, err := r.Path(id)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("record: recording %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("record: open recording %q: %w", id, err)
	}
	return f, nil
}

// Decompress copies the asciicast inside a recording file to w. A file cut
// short (a crash, or a session still being written) gives what was flushed
// and truncated true; only whole lines are copied.
func Decompress(w io.Writer, gz io.Reader) (truncated bool, err error) {
	zr, err := gzip.NewReader(gz)
	if err != nil {
		return false, fmt.Errorf("record: not a gzip recording: %w", err)
	}
	br := bufio.NewReaderSize(zr, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A long line: copy it through in pieces.
			if _, werr := w.Write(line); werr != nil {
				return false, werr
			}
			continue
		}
		if err == nil {
			if _, werr := w.Write(line); werr != nil {
				return false, werr
			}
			continue
		}
		if err == io.EOF {
			if len(line) > 0 {
				_, werr := w.Write(line)
				return false, werr
			}
			return false, nil
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return true, nil
		}
		return false, fmt.Errorf("record: decompress: %w", err)
	}
}

// Parse reads an asciicast v2 stream (decompressed) back: the header and
// every event. A malformed line is an error naming it.
func Parse(rd io.Reader) (Header, []Event, error) {
	var h Header
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	if !sc.Scan() {
		return h, nil, fmt.Errorf("record: empty asciicast: %w", errors.Join(sc.Err(), io.ErrUnexpectedEOF))
	}
	if err := json.Unmarshal(sc.Bytes(), &h); err != nil {
		return h, nil, fmt.Errorf("record: asciicast header: %w", err)
	}
	if h.Version != 2 {
		return h, nil, fmt.Errorf("record: asciicast version %d, want 2", h.Version)
	}
	var evs []Event
	for n := 2; sc.Scan(); n++ {
		var raw []json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil || len(raw) != 3 {
			return h, evs, fmt.Errorf("record: asciicast line %d is not an event [time, kind, data]: %q", n, sc.Text())
		}
		var e Event
		if json.Unmarshal(raw[0], &e.Time) != nil || json.Unmarshal(raw[1], &e.Kind) != nil || json.Unmarshal(raw[2], &e.Data) != nil {
			return h, evs, fmt.Errorf("record: asciicast line %d has a bad field: %q", n, sc.Text())
		}
		evs = append(evs, e)
	}
	return h, evs, sc.Err()
}
