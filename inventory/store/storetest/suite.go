// Package storetest is the shared test suite every store.Store backend runs
// (the containerd snapshotter-suite pattern). A backend's test calls Run with
// a factory that returns a new, empty store; backends that other processes can
// open by URL also call RunCrossProcess, and call MaybeChild from TestMain.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/fatbox/fatbox/inventory/store"
	"github.com/fatbox/fatbox/inventory/store/backends"
)

// Factory returns a new, empty store for one test; it registers its own cleanup.
type Factory func(t *testing.T) store.Store

// Run runs the whole single-process suite against the backend.
func Run(t *testing.T, newStore Factory) {
	t.Run("GetMissing", func(t *testing.T) { testGetMissing(t, newStore(t)) })
	t.Run("CreateOnly", func(t *testing.T) { testCreateOnly(t, newStore(t)) })
	t.Run("CompareAndSwapPut", func(t *testing.T) { testCAS(t, newStore(t)) })
	t.Run("CompareAndSwapDelete", func(t *testing.T) { testDelete(t, newStore(t)) })
	t.Run("ListPrefix", func(t *testing.T) { testList(t, newStore(t)) })
	t.Run("Txn", func(t *testing.T) { testTxn(t, newStore(t)) })
	t.Run("BadKeys", func(t *testing.T) { testBadKeys(t, newStore(t)) })
	t.Run("BinaryAndEmptyValues", func(t *testing.T) { testValues(t, newStore(t)) })
	t.Run("UpdateConcurrentGoroutines", func(t *testing.T) { testUpdateConcurrent(t, newStore(t)) })
	t.Run("Health", func(t *testing.T) {
		s := newStore(t)
		if err := s.Health(context.Background()); err != nil {
			t.Fatalf("Health: %v", err)
		}
		if s.Backend() == "" {
			t.Fatal("Backend() is empty")
		}
	})
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func testGetMissing(t *testing.T, s store.Store) {
	_, err := s.Get(ctx(t), "nope/missing")
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get of a missing key: got %v, want ErrNotFound", err)
	}
}

func testCreateOnly(t *testing.T, s store.Store) {
	c := ctx(t)
	v1, err := s.Create(c, "a/b", []byte("one"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if v1 == 0 {
		t.Fatal("Create returned version 0")
	}
	_, err = s.Create(c, "a/b", []byte("two"))
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("second Create: got %v, want ErrExists", err)
	}
	kv, err := s.Get(c, "a/b")
	if err != nil {
		t.Fatal(err)
	}
	if string(kv.Value) != "one" || kv.Version != v1 || kv.Key != "a/b" {
		t.Fatalf("Get after failed Create = %+v, want value one at version %d", kv, v1)
	}
}

func testCAS(t *testing.T, s store.Store) {
	c := ctx(t)
	v1, err := s.Create(c, "k", []byte("1"))
	if err != nil {
		t.Fatal(err)
	}
	v2, err := s.Put(c, "k", []byte("2"), v1)
	if err != nil {
		t.Fatalf("Put at current version: %v", err)
	}
	if v2 <= v1 {
		t.Fatalf("version did not grow: %d then %d", v1, v2)
	}
	if _, err := s.Put(c, "k", []byte("stale"), v1); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Put at stale version: got %v, want ErrConflict", err)
	}
	if _, err := s.Put(c, "missing", []byte("x"), v2); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Put of a missing key: got %v, want ErrConflict", err)
	}
	if _, err := s.Put(c, "k", []byte("x"), 0); err == nil {
		t.Fatal("Put with version 0 succeeded; it must point to Create")
	}
	kv, err := s.Get(c, "k")
	if err != nil {
		t.Fatal(err)
	}
	if string(kv.Value) != "2" || kv.Version != v2 {
		t.Fatalf("Get = %q@%d, want 2@%d", kv.Value, kv.Version, v2)
	}
}

func testDelete(t *testing.T, s store.Store) {
	c := ctx(t)
	v1, err := s.Create(c, "d", []byte("1"))
	if err != nil {
		t.Fatal(err)
	}
	v2, err := s.Put(c, "d", []byte("2"), v1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(c, "d", v1); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Delete at stale version: got %v, want ErrConflict", err)
	}
	if err := s.Delete(c, "d", v2); err != nil {
		t.Fatalf("Delete at current version: %v", err)
	}
	if _, err := s.Get(c, "d"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after Delete: got %v, want ErrNotFound", err)
	}
	if err := s.Delete(c, "d", v2); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second Delete: got %v, want ErrConflict", err)
	}
	v3, err := s.Create(c, "d", []byte("again"))
	if err != nil {
		t.Fatalf("Create after Delete: %v", err)
	}
	if v3 <= v2 {
		t.Fatalf("re-created key's version %d is not above the deleted one's %d (an old CAS could win)", v3, v2)
	}
}

func testList(t *testing.T, s store.Store) {
	c := ctx(t)
	for _, k := range []string{"pools/b", "pools/a", "poolsx", "leases/a", "pools/a/sub"} {
		if _, err := s.Create(c, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.List(c, "pools/")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"pools/a", "pools/a/sub", "pools/b"}
	if len(got) != len(want) {
		t.Fatalf("List(pools/) = %v, want keys %v", keys(got), want)
	}
	for i := range want {
		if got[i].Key != want[i] || string(got[i].Value) != want[i] || got[i].Version == 0 {
			t.Fatalf("List(pools/)[%d] = %+v, want key %q with its value", i, got[i], want[i])
		}
	}
	all, err := s.List(c, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 5 {
		t.Fatalf("List(\"\") = %v, want 5 keys", keys(all))
	}
	none, err := s.List(c, "zzz/")
	if err != nil || len(none) != 0 {
		t.Fatalf("List(zzz/) = %v, %v; want nothing", keys(none), err)
	}
}

func keys(kvs []store.KV) []string {
	var out []string
	for _, kv := range kvs {
		out = append(out, kv.Key)
	}
	return out
}

func testTxn(t *testing.T, s store.Store) {
	c := ctx(t)
	va, err := s.Create(c, "t/a", []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	vb, err := s.Create(c, "t/b", []byte("b"))
	if err != nil {
		t.Fatal(err)
	}
	vc, err := s.Create(c, "t/c", []byte("c"))
	if err != nil {
		t.Fatal(err)
	}
	// A failing condition anywhere rolls back every op.
	_, err = s.Txn(c, []store.Op{
		{Kind: store.OpPut, Key: "t/new", Value: []byte("n")},
		{Kind: store.OpDelete, Key: "t/a", Version: va},
		{Kind: store.OpCheck, Key: "t/b", Version: vb + 1000},
	})
	var te *store.TxnError
	if !errors.As(err, &te) || !errors.Is(err, store.ErrConflict) || te.Index != 2 {
		t.Fatalf("Txn with a stale check: got %v, want TxnError at op 2 wrapping ErrConflict", err)
	}
	if _, err := s.Get(c, "t/new"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("rolled-back Txn left t/new behind: %v", err)
	}
	if _, err := s.Get(c, "t/a"); err != nil {
		t.Fatalf("rolled-back Txn deleted t/a: %v", err)
	}
	// Create-only inside a Txn reports ErrExists.
	_, err = s.Txn(c, []store.Op{{Kind: store.OpPut, Key: "t/a", Value: []byte("x")}})
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("Txn create of an existing key: got %v, want ErrExists", err)
	}
	// All conditions hold: every op applies, versions come back per op.
	vs, err := s.Txn(c, []store.Op{
		{Kind: store.OpPut, Key: "t/new", Value: []byte("n")},
		{Kind: store.OpDelete, Key: "t/a", Version: va},
		{Kind: store.OpCheck, Key: "t/c", Version: vc},
		{Kind: store.OpCheck, Key: "t/absent"},
		{Kind: store.OpPut, Key: "t/b", Value: []byte("b2"), Version: vb},
	})
	if err != nil {
		t.Fatalf("Txn: %v", err)
	}
	if len(vs) != 5 || vs[0] == 0 || vs[1] != 0 || vs[2] != 0 || vs[4] <= vb {
		t.Fatalf("Txn versions = %v", vs)
	}
	kv, err := s.Get(c, "t/b")
	if err != nil || string(kv.Value) != "b2" || kv.Version != vs[4] {
		t.Fatalf("t/b after Txn = %+v, %v; want b2 at %d", kv, err, vs[4])
	}
	if _, err := s.Get(c, "t/a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("t/a after Txn delete: %v", err)
	}
	// Shape errors are refused before the backend sees them.
	if _, err := s.Txn(c, []store.Op{{Kind: store.OpPut, Key: "x"}, {Kind: store.OpPut, Key: "x"}}); err == nil {
		t.Fatal("Txn with one key twice succeeded")
	}
	big := make([]store.Op, store.MaxTxnOps+1)
	for i := range big {
		big[i] = store.Op{Kind: store.OpPut, Key: fmt.Sprintf("big/%d", i)}
	}
	if _, err := s.Txn(c, big); err == nil {
		t.Fatalf("Txn of %d ops succeeded", len(big))
	}
	// The largest allowed Txn works, for puts and for deletes.
	big = big[:store.MaxTxnOps]
	vs, err = s.Txn(c, big)
	if err != nil {
		t.Fatalf("Txn of %d puts: %v", len(big), err)
	}
	for i := range big {
		big[i] = store.Op{Kind: store.OpDelete, Key: big[i].Key, Version: vs[i]}
	}
	if _, err := s.Txn(c, big); err != nil {
		t.Fatalf("Txn of %d deletes: %v", len(big), err)
	}
}

func testBadKeys(t *testing.T, s store.Store) {
	c := ctx(t)
	for _, k := range []string{"", "/abs", "a//b"} {
		if _, err := s.Create(c, k, []byte("x")); err == nil {
			t.Errorf("Create(%q) succeeded", k)
		}
	}
	if _, err := s.Create(c, "big", make([]byte, store.MaxValueSize+1)); err == nil {
		t.Error("Create of an oversized value succeeded")
	}
}

func testValues(t *testing.T, s store.Store) {
	c := ctx(t)
	bin := []byte{0, 1, 2, 255, 0}
	if _, err := s.Create(c, "bin", bin); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(c, "empty", nil); err != nil {
		t.Fatal(err)
	}
	kv, err := s.Get(c, "bin")
	if err != nil || string(kv.Value) != string(bin) {
		t.Fatalf("binary value = %v, %v", kv.Value, err)
	}
	kv, err = s.Get(c, "empty")
	if err != nil || len(kv.Value) != 0 || kv.Version == 0 {
		t.Fatalf("empty value = %+v, %v", kv, err)
	}
}

// Increment adds one to the decimal counter at key through store.Update.
func Increment(ctx context.Context, s store.Store, key string) error {
	_, err := store.Update(ctx, s, key, func(cur []byte, exists bool) ([]byte, error) {
		n := 0
		if exists {
			var err error
			if n, err = strconv.Atoi(string(cur)); err != nil {
				return nil, fmt.Errorf("counter %q holds %q", key, cur)
			}
		}
		return []byte(strconv.Itoa(n + 1)), nil
	})
	return err
}

func hammer(ctx context.Context, s store.Store, key string, goroutines, each int) error {
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := Increment(ctx, s, key); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func readCounter(t *testing.T, s store.Store, key string) int {
	kv, err := s.Get(ctx(t), key)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(string(kv.Value))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func testUpdateConcurrent(t *testing.T, s store.Store) {
	const goroutines, each = 8, 25
	if err := hammer(ctx(t), s, "counter", goroutines, each); err != nil {
		t.Fatal(err)
	}
	if got := readCounter(t, s, "counter"); got != goroutines*each {
		t.Fatalf("counter = %d after %d increments", got, goroutines*each)
	}
}

const (
	childEnvURL  = "FATBOX_STORETEST_CHILD_URL"
	childEnvKey  = "FATBOX_STORETEST_CHILD_KEY"
	childEnvEach = "FATBOX_STORETEST_CHILD_EACH"
	childWorkers = 8
)

// MaybeChild must be called first thing in TestMain of a package that calls
// RunCrossProcess: in the child processes that RunCrossProcess starts, it runs
// the child's work and exits.
func MaybeChild() {
	raw := os.Getenv(childEnvURL)
	if raw == "" {
		return
	}
	each, _ := strconv.Atoi(os.Getenv(childEnvEach))
	c, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := backends.Open(c, raw, "")
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: open:", err)
		os.Exit(3)
	}
	if err := hammer(c, s, os.Getenv(childEnvKey), childWorkers, each); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(4)
	}
	s.Close()
	os.Exit(0)
}

// RunCrossProcess starts 2 processes, each with 8 goroutines incrementing one
// counter through CAS, against the store at url (which the children open with
// backends.Open), and checks the counter ends at exactly the right count.
// check is a store on the same data, used to read the result.
func RunCrossProcess(t *testing.T, url string, check store.Store) {
	const procs, each = 2, 25
	key := fmt.Sprintf("xproc/counter-%d", time.Now().UnixNano())
	var wg sync.WaitGroup
	errs := make([]error, procs)
	outs := make([][]byte, procs)
	for p := 0; p < procs; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnvURL+"="+url, childEnvKey+"="+key, childEnvEach+"="+strconv.Itoa(each))
			outs[p], errs[p] = cmd.CombinedOutput()
		}()
	}
	wg.Wait()
	for p := range errs {
		if errs[p] != nil {
			t.Fatalf("child %d: %v: %s", p, errs[p], outs[p])
		}
	}
	want := procs * childWorkers * each
	if got := readCounter(t, check, key); got != want {
		t.Fatalf("counter = %d after %d processes × %d goroutines × %d increments, want %d", got, procs, childWorkers, each, want)
	}
	t.Logf("%d processes × %d goroutines × %d CAS increments ended at %d", procs, childWorkers, each, want)
}
