package appgen

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// CorpusApp is one app of the test corpus and what it answers once its
// generated image runs: GET Path on Port returns Body (compare after
// trimming the trailing newline).
type CorpusApp struct {
	Layout string `json:"layout"`
	Dir    string `json:"dir"` // the app's directory, the input of fatbox dockerfile
	Port   int    `json:"port"`
	Path   string `json:"path"`
	Body   string `json:"body"`
}

// CorpusDir is testdata/corpus beside this package's source (the source
// tree must be present, as it is for tests).
func CorpusDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata", "corpus")
}

// Corpus lists the apps in dir (see CorpusDir), each with its expect.json,
// sorted by layout.
func Corpus(dir string) ([]CorpusApp, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("corpus %q: %w", dir, err)
	}
	var out []CorpusApp
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		p := filepath.Join(dir, e.Name(), "expect.json")
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("corpus app %q: %w (each app says what it answers in expect.json)", e.Name(), err)
		}
		app := CorpusApp{Layout: e.Name(), Dir: filepath.Join(dir, e.Name())}
		if err := json.Unmarshal(b, &app); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if app.Port == 0 || app.Body == "" {
			return nil, fmt.Errorf("%s: port and body are required", p)
		}
		out = append(out, app)
	}
	return out, nil
}
