package appgen

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the generator's output")

// testDigest stands for a base image's content ID; golden files hold
// goldenDigest instead, since the real one changes with each base build.
const (
	testDigest   = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	goldenDigest = "sha256:{{BASE_DIGEST}}"
)

// layouts lists the directories under testdata/<set>.
func layouts(t *testing.T, set string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join("testdata", set))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	if len(out) == 0 {
		t.Fatalf("no layouts in testdata/%s", set)
	}
	return out
}

func generate(t *testing.T, dir string) []File {
	t.Helper()
	plan, err := Analyze(os.DirFS(dir), Options{Name: AppName(filepath.Base(dir))})
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	files, err := Render(plan, testDigest)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// Every generated file of every corpus and variant layout is pinned by a
// golden file (go test ./tools/appgen -run Golden -update rewrites them).
func TestGolden(t *testing.T) {
	for _, set := range []string{"corpus", "variants"} {
		for _, l := range layouts(t, set) {
			t.Run(set+"/"+l, func(t *testing.T) {
				files := generate(t, filepath.Join("testdata", set, l))
				gdir := filepath.Join("testdata", "golden", set, l)
				if *update {
					if err := os.RemoveAll(gdir); err != nil {
						t.Fatal(err)
					}
				}
				want := map[string]bool{}
				for _, f := range files {
					want[f.Path] = true
					got := bytes.ReplaceAll(f.Data, []byte(testDigest), []byte(goldenDigest))
					p := filepath.Join(gdir, f.Path)
					if *update {
						if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
							t.Fatal(err)
						}
						if err := os.WriteFile(p, got, 0o644); err != nil {
							t.Fatal(err)
						}
						continue
					}
					exp, err := os.ReadFile(p)
					if err != nil {
						t.Fatalf("%s: %v (run go test -run Golden -update)", f.Path, err)
					}
					if !bytes.Equal(got, exp) {
						t.Errorf("%s differs from %s:\n--- got\n%s\n--- want\n%s", f.Path, p, got, exp)
					}
				}
				// No golden file the generator no longer writes.
				filepath.WalkDir(gdir, func(p string, d os.DirEntry, err error) error {
					if err == nil && !d.IsDir() {
						rel, _ := filepath.Rel(gdir, p)
						if !want[filepath.ToSlash(rel)] {
							t.Errorf("golden %s is not generated any more", p)
						}
					}
					return nil
				})
			})
		}
	}
}

// The Dockerfiles parse with buildkit's parser and use only the
// instructions fatbox's builder runs.
func TestDockerfilesParse(t *testing.T) {
	allowed := map[string]bool{"from": true, "copy": true, "add": true, "run": true, "env": true, "workdir": true, "expose": true, "label": true, "user": true}
	for _, set := range []string{"corpus", "variants"} {
		for _, l := range layouts(t, set) {
			for _, f := range generate(t, filepath.Join("testdata", set, l)) {
				if f.Path != "Dockerfile" {
					continue
				}
				res, err := parser.Parse(bytes.NewReader(f.Data))
				if err != nil {
					t.Fatalf("%s/%s: %v\n%s", set, l, err, f.Data)
				}
				if len(res.Warnings) > 0 {
					t.Errorf("%s/%s: parser warnings: %+v", set, l, res.Warnings)
				}
				apt := 0
				for i, n := range res.AST.Children {
					if !allowed[strings.ToLower(n.Value)] {
						t.Errorf("%s/%s: instruction %s is outside the builder's contract", set, l, n.Value)
					}
					if i == 0 && (strings.ToLower(n.Value) != "from" || !strings.Contains(n.Original, "@sha256:")) {
						t.Errorf("%s/%s: first instruction %q is not FROM name@sha256:digest", set, l, n.Original)
					}
					if strings.Contains(n.Original, "apt-get") {
						apt++
						if !aptLine.MatchString(n.Original) {
							t.Errorf("%s/%s: apt line %q is not the contract's form", set, l, n.Original)
						}
					}
				}
				if apt > 1 {
					t.Errorf("%s/%s: %d apt-get lines, the contract allows one", set, l, apt)
				}
			}
		}
	}
}

// Generating twice gives the same bytes.
func TestDeterministic(t *testing.T) {
	for _, l := range layouts(t, "corpus") {
		dir := filepath.Join("testdata", "corpus", l)
		a, b := generate(t, dir), generate(t, dir)
		if len(a) != len(b) {
			t.Fatalf("%s: %d files, then %d", l, len(a), len(b))
		}
		for i := range a {
			if a[i].Path != b[i].Path || !bytes.Equal(a[i].Data, b[i].Data) {
				t.Errorf("%s: %s differs between two runs", l, a[i].Path)
			}
		}
	}
}

// A layout no detector knows is refused with what each detector looked for.
func TestUnknown(t *testing.T) {
	for _, l := range layouts(t, "unknown") {
		_, err := Analyze(os.DirFS(filepath.Join("testdata", "unknown", l)), Options{Name: AppName(l)})
		var ue *UnknownError
		if !errors.As(err, &ue) || !errors.Is(err, ErrUnknownLayout) {
			t.Fatalf("%s: got %v, want an UnknownError", l, err)
		}
		for _, d := range detectors() {
			if !strings.Contains(err.Error(), d.name+": looked for "+d.lookedFor) {
				t.Errorf("%s: the report lacks detector %s", l, d.name)
			}
		}
	}
}
