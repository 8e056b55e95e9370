package ipam

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/fatbox/fatbox/inventory/store"
	"github.com/fatbox/fatbox/inventory/store/boltstore"
	"github.com/fatbox/fatbox/inventory/store/consulstore"
	"github.com/fatbox/fatbox/test/harness"
)

func benchAllocate(b *testing.B, s store.Store) {
	ctx := context.Background()
	a := &Allocator{Store: s, Host: "bench"}
	pf := netip.MustParsePrefix("198.18.0.0/16")
	if _, err := a.CreatePool(ctx, Pool{Name: "bench", CIDR: pf, Gateway: pf.Addr().Next(), Bridge: "fbbench"}); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		if _, err := a.Allocate(ctx, "bench", fmt.Sprintf("vm-%d", i)); err != nil {
			b.Fatal(err)
		}
		i++
		if i == 65000 {
			b.Fatal("the /16 is nearly full; run with a smaller -benchtime")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "allocs/s")
}

func BenchmarkAllocateBolt(b *testing.B) {
	s, err := boltstore.Open(filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	benchAllocate(b, s)
}

func BenchmarkAllocateConsul(b *testing.B) {
	c := harness.StartConsul(b)
	cfg, _ := consulstore.ParseURL(c.URL("bench"))
	s, err := consulstore.Open(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	benchAllocate(b, s)
}
