// Package rules checks the import rules written in docs/architecture.md, so
// a change that crosses a "never" fails a test instead of waiting for a
// reviewer.
package rules

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/fatbox/fatbox/"

type pkg struct {
	ImportPath string
	Imports    []string
}

// packages lists every package of the module (tests excluded) with its
// direct imports.
func packages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", "github.com/fatbox/fatbox/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var ps []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	if len(ps) < 20 {
		t.Fatalf("go list found %d packages: the walk is broken", len(ps))
	}
	return ps
}

func rel(path string) string { return strings.TrimPrefix(path, mod) }

// rule: for the packages who matches, every direct fatbox import must be
// one of fatbox (checkFatbox; an empty list means none at all; "x/..."
// means x's subpackages), and no import may be one of forbidden (or under it).
type rule struct {
	who         func(string) bool
	checkFatbox bool
	fatbox      []string
	forbidden   []string
	why         string
}

func (r rule) check(name string, imports []string) []string {
	var bad []string
	for _, imp := range imports {
		if r.checkFatbox && strings.HasPrefix(imp, mod) {
			ok := false
			for _, a := range r.fatbox {
				if rel(imp) == a || strings.HasSuffix(a, "/...") && strings.HasPrefix(rel(imp), strings.TrimSuffix(a, "...")) {
					ok = true
				}
			}
			if !ok {
				bad = append(bad, name+" imports "+rel(imp)+": "+r.why)
			}
		}
		for _, f := range r.forbidden {
			if imp == f || strings.HasPrefix(imp, f+"/") {
				bad = append(bad, name+" imports "+imp+": "+r.why)
			}
		}
	}
	return bad
}

func rules() []rule {
	netlink := []string{"github.com/vishvananda/netlink", "github.com/vishvananda/netns", "github.com/google/nftables", "github.com/mdlayher/netlink"}
	runc := []string{"github.com/containerd/go-runc", "github.com/opencontainers/runtime-spec"}
	lowLevel := append(append([]string{}, netlink...), runc...)
	is := func(names ...string) func(string) bool {
		return func(p string) bool {
			for _, n := range names {
				if p == n {
					return true
				}
			}
			return false
		}
	}
	return []rule{
		{is("inventory/store"), true, nil, nil, "the state contract imports nothing of fatbox"},
		{is("inventory/store/boltstore", "inventory/store/consulstore", "inventory/store/memstore"), true, []string{"inventory/store"}, nil,
			"a backend imports only the contract"},
		{is("inventory", "ipam"), true, []string{"inventory/store", "inventory/logfwd"}, lowLevel, "ipam and inventory are given a store.Store, never a backend"},
		{is("engine/api", "engine/limits", "baseimages", "inventory/logfwd"), true, nil, lowLevel, "leaf packages: clients and the CLI import them"},
		{is("baseimages/units"), true, nil, lowLevel, "the unit-file logic is pure: the in-container shim imports it"},
		{is("baseimages/dockerbuild"), true, []string{"baseimages", "engine/revert"}, lowLevel,
			"the Dockerfile builder is given its Runner (engine.BuildRunner): no runc or netlink of its own"},
		{is("tools/vmshim"), true, []string{"baseimages/units"}, lowLevel,
			"the in-container binary is static and small: nothing of the host's engine, store or runtime"},
		{func(p string) bool { return p == "cmdbsync" || strings.HasPrefix(p, "cmdbsync/") }, true, []string{"inventory", "cmdbsync", "cmdbsync/..."}, lowLevel,
			"the sync loops read the inventory, never runc, cgroups or netlink"},
		{is("sshgw"), true, []string{"engine/api", "sshgw/audit", "sshgw/record"}, lowLevel,
			"the gateway reads containers through the daemon (the API's types and a Fleet the daemon gives it), never the engine, runc, cgroups or netlink"},
		{is("sshgw/audit", "sshgw/record"), true, nil, lowLevel, "the audit log and the recorder are leaves: the gateway writes through them, the daemon reads them"},
		{is("tools/appgen"), true, []string{"baseimages/units"}, lowLevel,
			"the Dockerfile generator is analysis over an fs.FS: it reads unit files with the shim's rules and nothing of the host's engine"},
		{is("tools/fatbox"), true, []string{"engine/daemon", "engine/api", "engine/limits", "inventory", "inventory/logfwd", "tools/appgen"}, lowLevel,
			"the CLI wires packages: the daemon for `fatbox daemon`, the API client and the validation rules for the rest"},
		{func(p string) bool {
			return !strings.HasPrefix(p, "engine/network") && !strings.HasPrefix(p, "test/bench/")
		}, false, nil, netlink,
			"only engine/network talks netlink and nftables (the benchmarks build their bare baselines themselves)"},
	}
}

// Every package keeps the import rules of docs/architecture.md.
func TestImportRules(t *testing.T) {
	for _, p := range packages(t) {
		for _, r := range rules() {
			if r.who(rel(p.ImportPath)) {
				for _, b := range r.check(rel(p.ImportPath), p.Imports) {
					t.Errorf("%s (docs/architecture.md, import rules)", b)
				}
			}
		}
	}
}

// The rules catch what they are for: a package crossing each "never".
func TestImportRulesCatch(t *testing.T) {
	for _, c := range []struct {
		pkg     string
		imports []string
	}{
		{"inventory/store", []string{mod + "ipam"}},
		{"inventory/store/memstore", []string{mod + "inventory"}},
		{"ipam", []string{mod + "inventory/store/boltstore"}},
		{"engine/api", []string{mod + "engine"}},
		{"engine/api", []string{"github.com/vishvananda/netlink"}},
		{"cmdbsync", []string{mod + "engine/runtime"}},
		{"sshgw", []string{mod + "engine"}},
		{"sshgw/record", []string{mod + "engine/api"}},
		{"tools/fatbox", []string{mod + "engine"}},
		{"tools/vmshim", []string{mod + "engine/api"}},
		{"tools/appgen", []string{mod + "engine/api"}},
		{"baseimages/units", []string{mod + "baseimages"}},
		{"baseimages/dockerbuild", []string{mod + "engine/runtime"}},
		{"engine", []string{"github.com/google/nftables/expr"}},
	} {
		n := 0
		for _, r := range rules() {
			if r.who(c.pkg) {
				n += len(r.check(c.pkg, c.imports))
			}
		}
		if n == 0 {
			t.Errorf("%s importing %v passes the rules", c.pkg, c.imports)
		}
	}
}
