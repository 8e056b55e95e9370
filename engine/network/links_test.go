package network

import (
	"fmt"
	"strings"
	"testing"

	"github.com/fatbox/fatbox/test/harness"
)

func TestValidLinkName(t *testing.T) {
	for _, ok := range []string{"br0", "fatbox-br", "a", "x_y.z", "eth0.100", "abcdefghijklmno", "vlan@1", "Br+1"} {
		if err := ValidLinkName(ok); err != nil {
			t.Errorf("ValidLinkName(%q): %v", ok, err)
		}
	}
	for name, why := range map[string]string{
		"":                 "it is empty",
		"abcdefghijklmnop": "it is 16 bytes long",
		".":                "it is a directory name",
		"..":               "it is a directory name",
		"a/b c":            `it contains '/'`,
		"a b":              "it contains whitespace",
		"a\tb":             "it contains whitespace",
		"eth0:1":           `it contains ':'`,
		"brü":              "it contains the byte 0xc3, which is not printable ASCII",
		"a\x00b":           "it contains the byte 0x00",
		"a\x7fb":           "it contains the byte 0x7f",
	} {
		err := ValidLinkName(name)
		if err == nil {
			t.Errorf("ValidLinkName(%q) accepted it", name)
			continue
		}
		msg := err.Error()
		for _, want := range []string{fmt.Sprintf("interface name %q is not valid: ", name), why, "use 1 to 15 letters, digits"} {
			if !strings.Contains(msg, want) {
				t.Errorf("ValidLinkName(%q) = %q, want it to contain %q", name, msg, want)
			}
		}
	}
	want := `interface name "a/b c" is not valid: it contains '/': use 1 to 15 letters, digits, '-', '_' or '.' (no '/', ':' or spaces, not "." or "..")`
	if err := ValidLinkName("a/b c"); err == nil || err.Error() != want {
		t.Errorf("ValidLinkName(%q) = %v\nwant %s", "a/b c", err, want)
	}
}

// TestLinkKindAndDeleteBridge runs in a namespace of its own: LinkKind of
// each kind and of a missing link; DeleteBridge refuses a non-bridge and a
// bridge with ports (naming them), deletes an empty one, and is idempotent.
func TestLinkKindAndDeleteBridge(t *testing.T) {
	privateNetns(t)
	br, v, peer := harness.Name("fbnb"), harness.Name("fbnv"), harness.Name("fbnp")
	harness.IP(t, "link", "add", br, "type", "bridge")
	harness.IP(t, "link", "add", v, "type", "veth", "peer", "name", peer)
	for name, want := range map[string]string{br: "bridge", v: "veth", peer: "veth", "lo": "device"} {
		kind, exists, err := LinkKind(name)
		if err != nil || !exists || kind != want {
			t.Errorf("LinkKind(%q) = %q, %v, %v; want %q, true, nil", name, kind, exists, err, want)
		}
	}
	if kind, exists, err := LinkKind("fbnmissing"); err != nil || exists || kind != "" {
		t.Errorf("LinkKind of a missing link = %q, %v, %v", kind, exists, err)
	}
	if _, _, err := LinkKind("a/b"); err == nil || !strings.Contains(err.Error(), `"a/b" is not valid`) {
		t.Errorf("LinkKind of a bad name: %v", err)
	}

	if err := DeleteBridge(v); err == nil || !strings.Contains(err.Error(), "is a veth link, not a bridge") || !nwExists(v) {
		t.Errorf("DeleteBridge of a veth: %v (exists %v)", err, nwExists(v))
	}
	harness.IP(t, "link", "set", v, "master", br)
	harness.IP(t, "link", "set", peer, "master", br)
	err := DeleteBridge(br)
	if err == nil || !nwExists(br) {
		t.Fatalf("DeleteBridge of a bridge with ports: %v (exists %v)", err, nwExists(br))
	}
	for _, want := range []string{`delete bridge "` + br + `"`, "still has ports", v, peer, "nomaster"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	t.Log(err)
	harness.IP(t, "link", "set", v, "nomaster")
	harness.IP(t, "link", "set", peer, "nomaster")
	for i := range 2 {
		if err := DeleteBridge(br); err != nil {
			t.Fatalf("DeleteBridge #%d of an empty bridge: %v", i+1, err)
		}
		if nwExists(br) {
			t.Fatalf("DeleteBridge #%d: the bridge is still there", i+1)
		}
	}
	if err := DeleteBridge("a b"); err == nil || !strings.Contains(err.Error(), "whitespace") {
		t.Errorf("DeleteBridge of a bad name: %v", err)
	}
}
