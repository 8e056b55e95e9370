package rules

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// topLevel is the fixed top level of the repository (docs/architecture.md):
// a new package goes under one of these, never beside them.
var topLevel = []string{".ci", ".gitignore", "Makefile", "README.md", "baseimages", "cmdbsync", "docs", "engine",
	"go.mod", "go.sum", "inventory", "ipam", "sshgw", "test", "tools"}

// The repository's top level holds only the fixed folders and files: what
// git tracks or would add (ignored build outputs such as bin/ are not part of it).
func TestTopLevel(t *testing.T) {
	out, err := exec.Command("git", "-C", "../..", "ls-files", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	seen := map[string]bool{}
	for _, p := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		top, _, _ := strings.Cut(p, "/")
		if !seen[top] && !slices.Contains(topLevel, top) {
			t.Errorf("%q at the top level: the top level is fixed (docs/architecture.md); move it under one of %v", top, topLevel)
		}
		seen[top] = true
	}
}
