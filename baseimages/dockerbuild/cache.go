package dockerbuild

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// cacheFormat is mixed into every key; bump it when a step's result
// changes for the same inputs.
const cacheFormat = "fatbox-dockerbuild-1"

// FromKey is the key of the first layer: the base image's content.
func FromKey(baseID string) string {
	return digest(cacheFormat, "FROM", baseID)
}

// StepKey is a layer's cache key: the parent layer, the instruction as
// written and as expanded, what it runs with (environment, working
// directory, user), and the digest of the files it reads (inputs, for COPY
// and ADD; "" for the others).
func StepKey(parent string, st Step, before State, inputs string) string {
	return digest(cacheFormat, parent, st.Original,
		"srcs="+strings.Join(st.Srcs, "\x00"), "dest="+st.Dest, "chown="+st.Chown, "argv="+strings.Join(st.Argv, "\x00"),
		"env="+strings.Join(before.Env, "\x00"), "workdir="+before.WorkDir, "user="+before.User, "inputs="+inputs)
}

func digest(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// layer is one cached step: <cache>/<key>/meta.json and, for steps that
// change files, <cache>/<key>/diff (an overlay upper dir).
type layer struct {
	Key    string `json:"key"`
	Parent string `json:"parent"`
	Step   string `json:"step"`
	// Diffs are the keys of the layers with files, bottom first, this one's included.
	Diffs []string `json:"diffs"`
	State State    `json:"state"`
}

type layers struct{ dir string }

func (l layers) path(key string) string { return filepath.Join(l.dir, key) }
func (l layers) diff(key string) string { return filepath.Join(l.dir, key, "diff") }

func (l layers) get(key string) (layer, bool) {
	b, err := os.ReadFile(filepath.Join(l.path(key), "meta.json"))
	if err != nil {
		return layer{}, false
	}
	var ly layer
	if json.Unmarshal(b, &ly) != nil || ly.Key != key {
		return layer{}, false
	}
	for _, d := range ly.Diffs {
		if fi, err := os.Stat(l.diff(d)); err != nil || !fi.IsDir() {
			return layer{}, false
		}
	}
	return ly, true
}

// put stores ly, its diff taken from tmp/diff when it has one: tmp is
// renamed into place whole, so a layer is there complete or not at all.
func (l layers) put(tmp string, ly layer) error {
	b, _ := json.MarshalIndent(ly, "", "  ")
	if err := os.WriteFile(filepath.Join(tmp, "meta.json"), b, 0o644); err != nil {
		return err
	}
	final := l.path(ly.Key)
	if _, err := os.Stat(final); err == nil {
		// Another build made the same layer meanwhile (same key, same
		// result): keep that one, which it may be using as a lower dir.
		return os.RemoveAll(tmp)
	}
	if err := os.Rename(tmp, final); err != nil {
		if _, serr := os.Stat(final); serr == nil {
			return os.RemoveAll(tmp) // made between the check and the rename
		}
		return err
	}
	return nil
}
