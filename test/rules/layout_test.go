package rules

import (
	"os"
	"slices"
	"testing"
)

// topLevel is the fixed top level of the repository (docs/architecture.md):
// a new package goes under one of these, never beside them.
var topLevel = []string{".ci", ".git", ".gitignore", "Makefile", "README.md", "baseimages", "cmdbsync", "docs", "engine",
	"go.mod", "go.sum", "inventory", "ipam", "sshgw", "test", "tools", "bin"}

// The repository's top level holds only the fixed folders and files.
func TestTopLevel(t *testing.T) {
	ents, err := os.ReadDir("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !slices.Contains(topLevel, e.Name()) {
			t.Errorf("%q at the top level: the top level is fixed (docs/architecture.md); move it under one of %v", e.Name(), topLevel)
		}
	}
}
