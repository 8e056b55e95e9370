package baseimages

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

//go:embed recipes/*.yaml
var recipeFS embed.FS

// Recipe says, as data, how to build an image: its packages, its parent, the
// hooks run on the finished rootfs, and the supervisord programs it brings.
type Recipe struct {
	Name        string    `yaml:"name" json:"name"`
	Description string    `yaml:"description" json:"description"`
	Suite       string    `yaml:"suite" json:"suite,omitempty"`   // Debian suite; inherited from the parent
	Parent      string    `yaml:"parent" json:"parent,omitempty"` // recipe whose packages, hooks and programs come first
	Packages    []string  `yaml:"packages" json:"packages"`
	Hooks       []string  `yaml:"hooks" json:"hooks,omitempty"` // shell, run with the rootfs as $1
	Programs    []Program `yaml:"programs" json:"programs,omitempty"`
	raw         []byte
}

// Recipes is a set of recipes by name.
type Recipes map[string]*Recipe

// BuiltinRecipes returns the recipes shipped under baseimages/recipes.
func BuiltinRecipes() (Recipes, error) {
	rs := Recipes{}
	ents, err := fs.ReadDir(recipeFS, "recipes")
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		b, err := recipeFS.ReadFile(path.Join("recipes", e.Name()))
		if err != nil {
			return nil, err
		}
		r, err := ParseRecipe(b)
		if err != nil {
			return nil, fmt.Errorf("recipe %s: %w", e.Name(), err)
		}
		rs[r.Name] = r
	}
	return rs, nil
}

// ParseRecipe reads one recipe (YAML, unknown keys refused).
func ParseRecipe(b []byte) (*Recipe, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var r Recipe
	if err := dec.Decode(&r); err != nil {
		return nil, err
	}
	if r.Name == "" {
		return nil, fmt.Errorf("recipe has no name")
	}
	r.raw = b
	return &r, nil
}

// Names lists the recipes, sorted.
func (rs Recipes) Names() []string {
	var out []string
	for n := range rs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// buildFormat is mixed into every cache key; bump it when Builder's
// mmdebstrap invocation changes what a recipe produces.
const buildFormat = "mmdebstrap-2\n"

// Resolved is a recipe with its parents folded in, ready to build.
type Resolved struct {
	Name     string
	Parent   string
	Suite    string
	Packages []string
	Hooks    []string
	Programs []Program
	// Key is a content hash of every recipe in the chain: the build cache key.
	Key string
}

// Resolve folds the parent chain of recipe name into one build.
func (rs Recipes) Resolve(name string) (Resolved, error) {
	var chain []*Recipe
	seen := map[string]bool{}
	for n := name; n != ""; {
		r, ok := rs[n]
		if !ok {
			if n == name {
				return Resolved{}, fmt.Errorf("no recipe %q: known recipes are %s: %w", name, strings.Join(rs.Names(), ", "), ErrInvalid)
			}
			return Resolved{}, fmt.Errorf("recipe %q names parent %q, which does not exist", chain[len(chain)-1].Name, n)
		}
		if seen[n] {
			return Resolved{}, fmt.Errorf("recipe %q has a parent loop through %q", name, n)
		}
		seen[n] = true
		chain = append([]*Recipe{r}, chain...)
		n = r.Parent
	}
	out := Resolved{Name: name, Parent: rs[name].Parent}
	h := sha256.New()
	h.Write([]byte(buildFormat))
	pkgs := map[string]bool{}
	progs := map[string]int{}
	for _, r := range chain {
		h.Write(r.raw)
		if r.Suite != "" {
			out.Suite = r.Suite
		}
		for _, p := range r.Packages {
			if !pkgs[p] {
				pkgs[p] = true
				out.Packages = append(out.Packages, p)
			}
		}
		out.Hooks = append(out.Hooks, r.Hooks...)
		for _, p := range r.Programs {
			if i, ok := progs[p.Name]; ok {
				out.Programs[i] = p
				continue
			}
			progs[p.Name] = len(out.Programs)
			out.Programs = append(out.Programs, p)
		}
	}
	if out.Suite == "" {
		out.Suite = "bookworm"
	}
	out.Key = hex.EncodeToString(h.Sum(nil))[:32]
	return out, nil
}
