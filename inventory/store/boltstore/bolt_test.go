package boltstore_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fatbox/fatbox/inventory/store"
	"github.com/fatbox/fatbox/inventory/store/boltstore"
	"github.com/fatbox/fatbox/inventory/store/storetest"
)

func TestMain(m *testing.M) {
	storetest.MaybeChild()
	os.Exit(m.Run())
}

func TestSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := boltstore.Open(filepath.Join(t.TempDir(), "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestCrossProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	storetest.RunCrossProcess(t, "bolt://"+path, s)
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.Create(context.Background(), "k", []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	s2, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := s2.Get(context.Background(), "k")
	if err != nil || string(kv.Value) != "v" || kv.Version != v {
		t.Fatalf("reopened store: %+v, %v", kv, err)
	}
}

func TestRelativePathRefused(t *testing.T) {
	_, err := boltstore.Open("state.db")
	if err == nil || !strings.Contains(err.Error(), "absolute path") {
		t.Fatalf("relative path: %v", err)
	}
}

func BenchmarkCreate(b *testing.B) {
	s, err := boltstore.Open(filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Create(ctx, "bench/"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+itoa(i), []byte("v")); err != nil {
			b.Fatal(err)
		}
	}
}

func itoa(i int) string {
	const d = "0123456789"
	if i < 10 {
		return d[i : i+1]
	}
	return itoa(i/10) + d[i%10:i%10+1]
}
