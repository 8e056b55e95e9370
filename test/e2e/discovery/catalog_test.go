package discovery

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	consul "github.com/hashicorp/consul/api"

	"github.com/fatbox/fatbox/test/e2e/e2ekit"
	"github.com/fatbox/fatbox/test/harness"
)

// dig asks the Consul agent's DNS server with the real dig.
func dig(t *testing.T, c *harness.Consul, typ, name string) string {
	t.Helper()
	out, err := exec.Command("dig", "@127.0.0.1", "-p", strconv.Itoa(c.DNS), "+short", "+time=2", "+tries=1", name, typ).CombinedOutput()
	if err != nil {
		t.Fatalf("dig %s %s: %v: %s", typ, name, err, out)
	}
	return strings.TrimSpace(string(out))
}

// catalogNodes is `consul catalog nodes -detailed` as the real CLI prints it.
func catalogNodes(t *testing.T, c *harness.Consul) string {
	t.Helper()
	out, err := exec.Command(harness.ConsulBinary(), "catalog", "nodes", "-detailed", "-http-addr="+c.Addr).CombinedOutput()
	if err != nil {
		t.Fatalf("consul catalog nodes: %v: %s", err, out)
	}
	return string(out)
}

// TestConsulCatalog: containers are external nodes of a real Consul agent,
// with their IP, VM-shaped meta, a state check and their services, through
// create, stop, rename and remove, as `consul catalog nodes -detailed` and
// dig see them; a catalog changed while the daemon was dead is repaired at
// its start; a node someone else registered is never touched.
func TestConsulCatalog(t *testing.T) {
	t.Parallel()
	_, err := exec.LookPath("dig")
	harness.Require(t, err == nil, "dig (Debian package bind9-dnsutils; tools/setup-host.sh --test installs it)")
	c := harness.StartConsul(t)
	e := e2ekit.NewEnv(t, "198.19.172.0/24")
	cfg := filepath.Join(e.Dir, "catalog.yaml")
	if err := os.WriteFile(cfg, []byte("consul_catalog:\n  address: "+c.Addr+"\n  poll_interval: 1s\n  reconcile_interval: 3s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.Args = append(e.Args, "--config", cfg)
	e.D.Stop()
	e.D = e2ekit.SpawnDaemon(t, e.State, e.Sock, e.Args...)

	cl, err := consul.NewClient(&consul.Config{Address: c.Addr})
	if err != nil {
		t.Fatal(err)
	}
	// Someone else's external node: never touched.
	if _, err := cl.Catalog().Register(&consul.CatalogRegistration{Node: "ext-db", Address: "198.51.100.7", NodeMeta: map[string]string{"external-node": "true"}}, nil); err != nil {
		t.Fatal(err)
	}

	ct := e.Create("cat-01", "--memory", "256M", "--disk", "1G", "--app", "shop", "--env", "prod", "--service", "http:8080")
	e.RemoveAtEnd(t, "cat-01", "cat-03")
	e2ekit.WaitFor(t, 20*time.Second, "cat-01 in the catalog", func() bool {
		out := catalogNodes(t, c)
		return strings.Contains(out, "cat-01") && strings.Contains(out, ct.IP) && strings.Contains(out, "app=shop") && strings.Contains(out, "fatbox-owner=fatbox")
	})
	if got := dig(t, c, "A", "cat-01.node.consul"); got != ct.IP {
		t.Fatalf("dig cat-01.node.consul: %q, want %s", got, ct.IP)
	}
	var srv string
	e2ekit.WaitFor(t, 10*time.Second, "http.service.consul SRV", func() bool {
		srv = dig(t, c, "SRV", "http.service.consul")
		return strings.Contains(srv, " 8080 ")
	})
	t.Logf("dig SRV http.service.consul: %s", srv)
	if f := strings.Fields(srv); len(f) != 4 || dig(t, c, "A", f[3]) != ct.IP {
		t.Fatalf("SRV http.service.consul: %q: want one instance, on port 8080, whose target is %s", srv, ct.IP)
	}
	// Services change later: declared, then dropped.
	e.OK("update", "cat-01", "--service", "admin:9090")
	e2ekit.WaitFor(t, 10*time.Second, "admin.service.consul", func() bool { return strings.Contains(dig(t, c, "SRV", "admin.service.consul"), " 9090 ") })
	e.OK("update", "cat-01", "--remove-service", "admin")
	e2ekit.WaitFor(t, 10*time.Second, "admin.service.consul gone", func() bool { return dig(t, c, "SRV", "admin.service.consul") == "" })
	check := func(node string) string {
		hs, _, err := cl.Health().Node(node, nil)
		if err != nil || len(hs) == 0 {
			return ""
		}
		return hs[0].Status
	}
	if s := check("cat-01"); s != "passing" {
		t.Fatalf("cat-01's check is %q while it runs, want passing", s)
	}

	// Stopped: critical, and the service no longer answers.
	e.OK("stop", "cat-01")
	e2ekit.WaitFor(t, 10*time.Second, "cat-01 critical", func() bool { return check("cat-01") == "critical" })
	if got := dig(t, c, "SRV", "http.service.consul"); got != "" {
		t.Fatalf("a stopped container's service still answers: %q", got)
	}
	// Renamed: the node moves.
	e.OK("rename", "cat-01", "cat-03")
	e2ekit.WaitFor(t, 10*time.Second, "the node renamed", func() bool {
		out := catalogNodes(t, c)
		return strings.Contains(out, "cat-03") && !strings.Contains(out, "cat-01")
	})

	// The daemon dies; meanwhile the catalog loses fatbox's node and gains
	// a stale one of fatbox's: its next start repairs both.
	e.D.Kill9(t)
	if _, err := cl.Catalog().Deregister(&consul.CatalogDeregistration{Node: "cat-03"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Catalog().Register(&consul.CatalogRegistration{Node: "ghost-01", Address: "198.19.172.99", NodeMeta: map[string]string{"fatbox-owner": "fatbox"}}, nil); err != nil {
		t.Fatal(err)
	}
	e.D = e2ekit.SpawnDaemon(t, e.State, e.Sock, e.Args...)
	e2ekit.WaitFor(t, 20*time.Second, "the catalog repaired", func() bool {
		out := catalogNodes(t, c)
		return strings.Contains(out, "cat-03") && !strings.Contains(out, "ghost-01")
	})

	// Removed: gone; the foreign node stayed all along.
	e.OK("rm", "cat-03")
	e2ekit.WaitFor(t, 10*time.Second, "cat-03 gone", func() bool { return !strings.Contains(catalogNodes(t, c), "cat-03") })
	if out := catalogNodes(t, c); !strings.Contains(out, "ext-db") || !strings.Contains(out, "198.51.100.7") {
		t.Fatalf("the node someone else registered was touched:\n%s", out)
	}
	st := e2ekit.StatusJSON(t, e.Sock)
	if st.Catalog == nil || !st.Catalog.Running || st.Catalog.Failures != 0 {
		t.Fatalf("status: consul catalog %+v", st.Catalog)
	}
	_ = context.Background
}

// TestConsulCatalogACL: with an ACL-enabled Consul the sync works given a
// token with node and service write, and with a token lacking them it says
// in `fatbox status` which policy the token needs.
func TestConsulCatalogACL(t *testing.T) {
	t.Parallel()
	c := harness.StartConsulACL(t)
	mgmt, err := consul.NewClient(&consul.Config{Address: c.Addr, Token: c.Token})
	if err != nil {
		t.Fatal(err)
	}
	weak, _, err := mgmt.ACL().TokenCreate(&consul.ACLToken{Description: "fatbox without a policy"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pol, _, err := mgmt.ACL().PolicyCreate(&consul.ACLPolicy{Name: "fatbox-catalog", Rules: `node_prefix "" { policy = "write" }
service_prefix "" { policy = "write" }`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	good, _, err := mgmt.ACL().TokenCreate(&consul.ACLToken{Description: "fatbox", Policies: []*consul.ACLTokenPolicyLink{{ID: pol.ID}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := e2ekit.NewEnv(t, "198.19.173.0/24")
	cfg := filepath.Join(e.Dir, "catalog.yaml")
	useToken := func(tok string) {
		if err := os.WriteFile(cfg, []byte("consul_catalog:\n  address: "+c.Addr+"\n  token: "+tok+"\n  poll_interval: 1s\n  reconcile_interval: 3s\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		e.D.Stop()
		e.D = e2ekit.SpawnDaemon(t, e.State, e.Sock, append(e.Args, "--config", cfg)...)
	}
	useToken(weak.SecretID)
	e.Create("acl-01", "--memory", "256M", "--disk", "1G")
	var lastErr string
	e2ekit.WaitFor(t, 20*time.Second, "the sync to say what the token lacks", func() bool {
		st := e2ekit.StatusJSON(t, e.Sock)
		if st.Catalog != nil {
			lastErr = st.Catalog.LastError
		}
		return st.Catalog != nil && st.Catalog.Failures > 0 && strings.Contains(lastErr, `node_prefix "" { policy = "write" }`)
	})
	t.Logf("with a token lacking the policy: %s", lastErr)
	if r := e2ekit.Fatbox(t, "status", "--socket", e.Sock); !strings.Contains(r.Stdout, "consul:") || !strings.Contains(r.Stdout, "failing") {
		t.Errorf("fatbox status does not show the failing catalog sync:\n%s", r.Stdout)
	}
	useToken(good.SecretID)
	e2ekit.WaitFor(t, 20*time.Second, "acl-01 in the catalog", func() bool {
		n, _, err := mgmt.Catalog().Node("acl-01", nil)
		return err == nil && n != nil && n.Node != nil && n.Node.Meta["fatbox-owner"] == "fatbox"
	})
}
