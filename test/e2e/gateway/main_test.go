// Package gateway tests the SSH gateway end to end: the real fatbox
// daemon running sshgw, real fat containers, and the real OpenSSH client,
// scp, sftp, rsync, ansible and asciinema. One fixture (a daemon, three
// containers) is shared by the subtests of TestGateway.
package gateway

import (
	"testing"

	"github.com/fatbox/fatbox/test/e2e/e2ekit"
)

func TestMain(m *testing.M) { e2ekit.Main(m) }
