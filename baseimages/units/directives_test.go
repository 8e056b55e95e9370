package units

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// TestEveryDirectiveClassified: every [Unit]/[Service]/[Install]/[Timer]
// directive systemd 252 knows (testdata/systemd252-directives.txt, the
// gperf table strings of libsystemd-core-252.so) is supported, noted or
// refused with a reason — never reported as an unknown directive.
func TestEveryDirectiveClassified(t *testing.T) {
	b, err := os.ReadFile("testdata/systemd252-directives.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Fields(string(b)) {
		section, key, _ := strings.Cut(line, ".")
		name, head := "x.service", "[Service]\nExecStart=/bin/x\n"
		if section == "Timer" {
			name, head = "x.timer", "[Timer]\nOnBootSec=1\n"
		}
		src := head + "[" + section + "]\n" + key + "=\n"
		u, err := parseString(t, name, src)
		var ue *UnsupportedError
		if errors.As(err, &ue) && strings.Contains(ue.Why, "unknown") {
			t.Errorf("%s= is reported unknown", line)
			continue
		}
		if u != nil {
			for _, n := range u.Notes {
				if strings.Contains(n, "unknown") {
					t.Errorf("%s= is noted unknown: %s", line, n)
				}
			}
		}
	}
}
