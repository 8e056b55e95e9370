package harness

import (
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"strings"
	"testing"
)

// Name returns a short unique name with prefix, fit for a link (≤ 15 bytes
// when prefix is ≤ 7 bytes) or a namespace.
func Name(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// IP runs iproute2's ip with args and fails the test on error. Tests use it
// to build fixtures; fatbox itself talks netlink only from engine/.
func IP(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Netns creates a throwaway network namespace with lo up and deletes it at cleanup.
func Netns(t testing.TB) string {
	t.Helper()
	RequireRoot(t)
	name := Name("fbt-")
	IP(t, "netns", "add", name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	IP(t, "-n", name, "link", "set", "lo", "up")
	return name
}

// InNetns runs a command inside namespace ns.
func InNetns(ns string, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// Bridge creates a throwaway bridge (never attached to a real NIC), brings it
// up, and deletes it at cleanup.
func Bridge(t testing.TB) string {
	t.Helper()
	RequireRoot(t)
	name := Name("fbtbr")
	IP(t, "link", "add", name, "type", "bridge")
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", name).Run() })
	IP(t, "link", "set", name, "up")
	return name
}

// IPQuiet runs ip and ignores failure (for cleanups of things that may be gone).
func IPQuiet(args ...string) { _ = exec.Command("ip", args...).Run() }
