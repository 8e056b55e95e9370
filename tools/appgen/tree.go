package appgen

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"strings"
)

// maxRead is how much of one file the analysis reads: config files and
// scripts are small; a larger file is looked at only by name.
const maxRead = 1 << 20

// skipDirs are never walked into (version control, caches); vendored
// dependency directories are noted by name only.
var skipDirs = map[string]bool{".git": true, ".svn": true, ".hg": true, "__pycache__": true, ".idea": true, ".vscode": true}

// vendorDirs are walked no deeper than their top: what they hold is the
// app's dependencies, not its code.
var vendorDirs = map[string]bool{"node_modules": true, "vendor": true}

// tree is the app's file list, sorted, read once through an fs.FS.
type tree struct {
	fsys   fs.FS
	files  []string // regular files, slash paths, sorted
	dirs   []string // directories, sorted
	isFile map[string]bool
	isDir  map[string]bool
	exec   map[string]bool // regular files with an x bit
	skip   []string        // directories not walked (for .dockerignore)
	links  []string        // symbolic links, sorted
	cache  map[string][]byte
}

func newTree(fsys fs.FS) (*tree, error) {
	t := &tree{fsys: fsys, isFile: map[string]bool{}, isDir: map[string]bool{}, exec: map[string]bool{}, cache: map[string][]byte{}}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("read the app at %q: %w", p, err)
		}
		if p == "." {
			return nil
		}
		switch {
		case d.IsDir():
			t.dirs = append(t.dirs, p)
			t.isDir[p] = true
			if skipDirs[d.Name()] {
				t.skip = append(t.skip, p)
				return fs.SkipDir
			}
			if vendorDirs[path.Base(path.Dir(p))] && strings.Count(p, "/") >= 1 {
				return fs.SkipDir // node_modules/<pkg>: known by name
			}
		case d.Type()&fs.ModeSymlink != 0:
			t.links = append(t.links, p)
		case d.Type().IsRegular():
			t.files = append(t.files, p)
			t.isFile[p] = true
			if info, err := d.Info(); err == nil && info.Mode()&0o111 != 0 {
				t.exec[p] = true
			}
		}
		return nil
	})
	return t, err
}

// read returns the first maxRead bytes of a file; nil if it cannot be read.
func (t *tree) read(p string) []byte {
	if b, ok := t.cache[p]; ok {
		return b
	}
	f, err := t.fsys.Open(p)
	if err != nil {
		t.cache[p] = nil
		return nil
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, maxRead))
	t.cache[p] = b
	return b
}

// text returns a file's content if it looks like text.
func (t *tree) text(p string) (string, bool) {
	b := t.read(p)
	if b == nil || bytes.IndexByte(b[:min(len(b), 8192)], 0) >= 0 {
		return "", false
	}
	return string(b), true
}

// top lists the regular files directly in dir ("" for the top), sorted.
func (t *tree) top(dir string) []string {
	var out []string
	for _, f := range t.files {
		if path.Dir(f) == cmpDir(dir) {
			out = append(out, f)
		}
	}
	return out
}

func cmpDir(dir string) string {
	if dir == "" {
		return "."
	}
	return dir
}

// depth is the number of directories above p.
func depth(p string) int { return strings.Count(p, "/") }

// grep finds the first line of file p matching re; it returns the line
// number (1-based) and the submatches, or 0.
func (t *tree) grep(p string, re *regexp.Regexp) (int, []string) {
	s, ok := t.text(p)
	if !ok {
		return 0, nil
	}
	for i, line := range strings.Split(s, "\n") {
		if m := re.FindStringSubmatch(line); m != nil {
			return i + 1, m
		}
	}
	return 0, nil
}

// grepAll returns every matching line of p.
func grepAll(s string, re *regexp.Regexp) []match {
	var out []match
	for i, line := range strings.Split(s, "\n") {
		if m := re.FindStringSubmatch(line); m != nil {
			out = append(out, match{line: i + 1, sub: m, text: line})
		}
	}
	return out
}

type match struct {
	line int
	sub  []string
	text string
}
