package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/tools/appgen"
)

// fakeImages answers InspectImage from a map: a unit-test fake of the
// daemon's image store (the CLI's logic, not the daemon, is under test).
type fakeImages map[string]string

func (f fakeImages) InspectImage(_ context.Context, name string) (api.Image, error) {
	id, ok := f[name]
	if !ok {
		return api.Image{}, &api.StatusError{HTTPStatus: 404, Code: api.CodeNotFound, Msg: "no image " + name}
	}
	return api.Image{ID: id, Name: name}, nil
}

const fakeID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

var corpus = filepath.Join("..", "appgen", "testdata")

// TestMain gives `fatbox dockerfile` its place in the -o tests of
// cli_test.go (a context written against the fake daemon) and removes it.
func TestMain(m *testing.M) {
	out, err := os.MkdirTemp("", "fatbox-cli-dockerfile-")
	if err != nil {
		panic(err)
	}
	outputArgs["fatbox dockerfile"] = []string{"dockerfile", filepath.Join(corpus, "corpus", "python-wsgi"), "--out", filepath.Join(out, "ctx")}
	code := m.Run()
	os.RemoveAll(out)
	os.Exit(code)
}

// golden compares a written context with the golden files of a layout.
func golden(t *testing.T, out, layout string) {
	t.Helper()
	gdir := filepath.Join(corpus, "golden", "corpus", layout)
	n := 0
	filepath.WalkDir(gdir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(gdir, p)
		want, _ := os.ReadFile(p)
		got, err := os.ReadFile(filepath.Join(out, rel))
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		got = bytes.ReplaceAll(got, []byte("sha256:"+fakeID), []byte("sha256:{{BASE_DIGEST}}"))
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s", rel, p)
		}
		n++
		return nil
	})
	if n < 3 {
		t.Fatalf("only %d golden files for %s", n, layout)
	}
}

// leftovers lists what is in dir besides keep.
func leftovers(t *testing.T, dir string, keep ...string) []string {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		if !strings.Contains(strings.Join(keep, "\x00"), e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestDockerfileWritesContext(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "ctx")
	var w bytes.Buffer
	err := runDockerfile(context.Background(), &w, fakeImages{appgen.BaseJava: fakeID}, filepath.Join(corpus, "corpus", "war"), dockerfileOpts{out: out, output: "table"})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, out, "war")
	if _, err := os.Stat(filepath.Join(out, "app", "hello.war")); err != nil {
		t.Errorf("the app is not in the context: %v", err)
	}
	if !strings.Contains(w.String(), "FROM debian12-java@sha256:"+fakeID) || !strings.Contains(w.String(), "fatbox image build --dockerfile") {
		t.Errorf("summary: %s", w.String())
	}
	// Again into the same directory: replaced whole, same bytes.
	if err := runDockerfile(context.Background(), &w, fakeImages{appgen.BaseJava: fakeID}, filepath.Join(corpus, "corpus", "war"), dockerfileOpts{out: out, output: "table"}); err != nil {
		t.Fatal(err)
	}
	golden(t, out, "war")
	if l := leftovers(t, dir, "ctx"); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
}

// An archive of the app gives the same files as its directory.
func TestDockerfileFromTarGz(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(corpus, "corpus", "node")
	// An archive of an unknown layout (two files at its top).
	arch := filepath.Join(dir, "docs.zip")
	f, err := os.Create(arch)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	if err := zw.AddFS(os.DirFS(filepath.Join(corpus, "unknown", "docs-only"))); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	f.Close()
	// An archive of node/ (one top directory, unwrapped).
	arch2 := filepath.Join(dir, "node2.tgz")
	f, _ = os.Create(arch2)
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(filepath.Dir(src), p)
		info, _ := d.Info()
		h, _ := tar.FileInfoHeader(info, "")
		h.Name = filepath.ToSlash(rel)
		tw.WriteHeader(h)
		if !d.IsDir() {
			b, _ := os.ReadFile(p)
			tw.Write(b)
		}
		return nil
	})
	tw.Close()
	gz.Close()
	f.Close()
	out := filepath.Join(dir, "ctx")
	if err := runDockerfile(context.Background(), &bytes.Buffer{}, fakeImages{appgen.BaseFat: fakeID}, arch2, dockerfileOpts{out: out, name: "node", output: "table"}); err != nil {
		t.Fatal(err)
	}
	golden(t, out, "node")
	// The zip holds no app: refused with the detector report, nothing written.
	err = runDockerfile(context.Background(), &bytes.Buffer{}, fakeImages{}, arch, dockerfileOpts{out: filepath.Join(dir, "ctx2"), output: "table"})
	if !errors.Is(err, appgen.ErrUnknownLayout) {
		t.Fatalf("got %v, want the unknown layout report", err)
	}
	if l := leftovers(t, dir, "ctx", "docs.zip", "node2.tgz"); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
}

func TestDockerfileRefusals(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "ctx")
	war := filepath.Join(corpus, "corpus", "war")
	for _, c := range []struct {
		name  string
		input string
		o     dockerfileOpts
		imgs  fakeImages
		want  string
		is    error
	}{
		{"unknown layout", filepath.Join(corpus, "unknown", "go-source"), dockerfileOpts{out: out, output: "table"}, fakeImages{}, "python-wsgi: looked for", appgen.ErrUnknownLayout},
		{"base not built", war, dockerfileOpts{out: out, output: "table"}, fakeImages{}, "run `fatbox image build debian12-java` first", nil},
		{"bad digest", war, dockerfileOpts{out: out, output: "table", digests: []string{"debian12-java=sha256:xyz"}}, fakeImages{}, "--base-digest \"debian12-java=sha256:xyz\": write NAME=sha256:", nil},
		{"bad name", war, dockerfileOpts{out: out, output: "table", name: "Bad_Name"}, fakeImages{}, "use lower-case letters", nil},
		{"-o a directory", war, dockerfileOpts{output: "./ctx"}, fakeImages{}, "the directory to write is --out ./ctx", nil},
		{"missing input", filepath.Join(dir, "nope"), dockerfileOpts{out: out, output: "table"}, fakeImages{}, "give a directory or a .tar", nil},
		{"out inside the app", war, dockerfileOpts{out: filepath.Join(war, "ctx"), output: "table"}, fakeImages{}, "is inside the app", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := runDockerfile(context.Background(), &bytes.Buffer{}, c.imgs, c.input, c.o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error saying %q", err, c.want)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("%v is not %v", err, c.is)
			}
			if l := leftovers(t, dir); len(l) > 0 {
				t.Errorf("left behind: %v", l)
			}
			if l := leftovers(t, war, "expect.json", "hello.war"); len(l) > 0 {
				t.Errorf("left in the app: %v", l)
			}
		})
	}
	// A directory that is not an earlier context is never overwritten.
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(out, "notes.txt"), []byte("mine"), 0o644)
	err := runDockerfile(context.Background(), &bytes.Buffer{}, fakeImages{appgen.BaseJava: fakeID}, war, dockerfileOpts{out: out, output: "table"})
	if !errors.Is(err, appgen.ErrNotGenerated) {
		t.Fatalf("got %v, want ErrNotGenerated", err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "notes.txt")); string(b) != "mine" {
		t.Error("the user's directory was changed")
	}
	if l := leftovers(t, dir, "ctx"); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
}

func TestDockerfileJSON(t *testing.T) {
	out := filepath.Join(t.TempDir(), "ctx")
	var w bytes.Buffer
	err := runDockerfile(context.Background(), &w, fakeImages{}, filepath.Join(corpus, "corpus", "python-wsgi"),
		dockerfileOpts{out: out, output: "json", digests: []string{"debian12-fat=sha256:" + fakeID}})
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Digest string `json:"base_digest"`
		Plan   struct {
			Base  string `json:"base"`
			Ports []struct {
				Port int `json:"port"`
			} `json:"ports"`
			Detectors []struct {
				Detector string `json:"detector"`
				Matched  bool   `json:"matched"`
			} `json:"detectors"`
		} `json:"plan"`
		Steps []struct {
			Instruction string `json:"instruction"`
			Evidence    []struct {
				Path string `json:"path"`
				Line int    `json:"line"`
			} `json:"evidence"`
		} `json:"instructions"`
	}
	if err := json.Unmarshal(w.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, w.String())
	}
	if res.Digest != "sha256:"+fakeID || res.Plan.Base != appgen.BaseFat || len(res.Plan.Ports) != 1 || res.Plan.Ports[0].Port != 5000 {
		t.Errorf("json: %+v", res)
	}
	for _, s := range res.Steps {
		if strings.HasPrefix(s.Instruction, "RUN apt-get") && (len(s.Evidence) < 2 || s.Evidence[1].Path != "requirements.txt" || s.Evidence[1].Line != 1) {
			t.Errorf("the apt line's evidence does not point at requirements.txt:1: %+v", s)
		}
	}
}
