package firstboot

import (
	"bytes"
	"context"
	"path/filepath"
	"sync"
	"testing"
)

func TestKeyPool(t *testing.T) {
	dir := t.TempDir()
	p := &KeyPool{Dir: filepath.Join(dir, "pool"), Size: 3}
	if _, ok, err := p.Take(); ok || err != nil {
		t.Fatalf("Take from an empty pool: %v %v", ok, err)
	}
	if err := p.Fill(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, _ := p.Ready(); n != 3 {
		t.Fatalf("%d ready after Fill, want 3", n)
	}
	// A container's RSA key comes from the pool and is kept: the next
	// HostKeysFrom loads it and does not take another.
	k1, err := HostKeysFrom(filepath.Join(dir, "c1"), p)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := p.Ready(); n != 2 {
		t.Fatalf("%d ready after one create, want 2", n)
	}
	k1again, err := HostKeysFrom(filepath.Join(dir, "c1"), p)
	if err != nil || k1again.RSA.Fingerprint != k1.RSA.Fingerprint {
		t.Fatalf("RSA key changed on reload: %v", err)
	}
	if n, _ := p.Ready(); n != 2 {
		t.Fatalf("reload took a pooled key: %d ready", n)
	}
	// Concurrent takers never share a key, and the pool runs dry cleanly.
	var mu sync.Mutex
	var got [][]byte
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if b, ok, err := p.Take(); err == nil && ok {
				mu.Lock()
				got = append(got, b)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(got) != 2 || bytes.Equal(got[0], got[1]) {
		t.Fatalf("4 takers of 2 keys got %d keys (or the same twice)", len(got))
	}
	// Empty pool: the key is generated on the spot.
	k2, err := HostKeysFrom(filepath.Join(dir, "c2"), p)
	if err != nil || k2.RSA.Fingerprint == k1.RSA.Fingerprint || k2.RSA.Fingerprint == "" {
		t.Fatalf("RSA key without a pool key: %v", err)
	}
}
