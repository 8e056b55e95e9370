// Package discovery tests what lets a company's tools see fat containers
// (issue 17): the Consul catalog, Prometheus metrics and file_sd, the
// Ansible inventory, lifecycle hooks and syslog forwarding, through the
// real binary. A package of its own so it runs beside test/e2e.
package discovery

import (
	"testing"

	"github.com/fatbox/fatbox/test/e2e/e2ekit"
)

func TestMain(m *testing.M) { e2ekit.Main(m) }
