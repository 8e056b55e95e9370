// Package gwrec tests the gateway's audit log and recordings through the
// real fatbox binary and daemon (`fatbox audit ls|show|play`, asciinema),
// and the daemon's exec streams that the gateway's no-sshd path rides on
// (window-size changes, signals).
package gwrec

import (
	"testing"

	"github.com/fatbox/fatbox/test/e2e/e2ekit"
)

func TestMain(m *testing.M) { e2ekit.Main(m) }
