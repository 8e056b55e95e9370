package cmdbsync

import (
	"errors"
	"strings"
	"testing"

	consul "github.com/hashicorp/consul/api"

	"github.com/fatbox/fatbox/inventory"
	"github.com/fatbox/fatbox/inventory/store/memstore"
)

func TestCatalogRegistration(t *testing.T) {
	c, err := NewCatalog(CatalogConfig{Source: &inventory.Inventory{Store: memstore.New()}, Address: "127.0.0.1:1", Owner: "fb-a"})
	if err != nil {
		t.Fatal(err)
	}
	rec := inventory.Record{ID: "id-1", Name: "web-01", IP: "198.18.0.5", Node: "host-1", Image: "debian12-fat", VCPUs: 2, MemoryMiB: 1024,
		App: "shop", Status: inventory.StatusStopped, StopReason: "crashed", Services: []inventory.Service{{Name: "http", Port: 8080}, {Name: "admin", Port: 9090}}}
	regs := c.Registration(rec)
	if len(regs) != 3 {
		t.Fatalf("%d registrations, want the node and two services", len(regs))
	}
	n := regs[0]
	if n.Node != "web-01" || n.Address != "198.18.0.5" || n.NodeMeta[MetaOwner] != "fb-a" || n.NodeMeta["fatbox-id"] != "id-1" ||
		n.NodeMeta["app"] != "shop" || n.NodeMeta["vcpu"] != "2" || n.NodeMeta["memory_mib"] != "1024" || n.NodeMeta["external-node"] != "true" {
		t.Fatalf("node: %+v", n)
	}
	if _, ok := n.NodeMeta["env"]; ok {
		t.Fatal("an empty field became node meta")
	}
	if n.Check == nil || n.Check.Status != consul.HealthCritical || !strings.Contains(n.Check.Output, "crashed") {
		t.Fatalf("a stopped container's check: %+v", n.Check)
	}
	if s := regs[1].Service; s == nil || s.Service != "http" || s.Port != 8080 || s.ID != "fatbox-http" || regs[1].Check != nil {
		t.Fatalf("service: %+v", regs[1])
	}
	rec.Status = inventory.StatusRunning
	if regs := c.Registration(rec); regs[0].Check.Status != consul.HealthPassing {
		t.Fatalf("a running container's check: %+v", regs[0].Check)
	}
	err = c.consulErr("register node \"web-01\"", consul.StatusError{Code: 403, Body: "Permission denied"})
	if !strings.Contains(err.Error(), `node_prefix "" { policy = "write" }`) || !errors.As(err, new(consul.StatusError)) {
		t.Fatalf("an ACL refusal: %v, want the policy the token needs", err)
	}
}
