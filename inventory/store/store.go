// Package store is fatbox's state contract: a small key/value interface with
// compare-and-swap on a per-key version, used by ipam and inventory alike.
//
// Every piece of state that must survive a crash of the fatbox process goes
// through a Store. Writes are never blind: a key is created only if absent
// (Create, or an Op with Version 0), and replaced or deleted only if its version
// is still the one the caller read (Put, Delete). Read-modify-write loops use
// Update, which retries on conflict.
//
// Backends live in subpackages (boltstore for one host, consulstore for many
// hosts, memstore as an in-memory fake for unit tests) and all pass the shared
// suite in storetest. The backends package maps store URLs to backends.
package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Sentinel errors. Backends wrap them; check with errors.Is.
var (
	// ErrNotFound: the key does not exist.
	ErrNotFound = errors.New("key not found")
	// ErrExists: a create-only write found the key already there.
	ErrExists = errors.New("key already exists")
	// ErrConflict: a compare-and-swap write found a different version than
	// the caller expected (someone else wrote or deleted the key first).
	ErrConflict = errors.New("version conflict")
	// ErrUnavailable: the backend cannot be reached or opened.
	ErrUnavailable = errors.New("store unavailable")
)

// MaxTxnOps is the largest number of operations one Txn may hold. Consul allows
// 64 operations per transaction and the Consul backend spends two on a delete.
const MaxTxnOps = 32

// MaxValueSize is the largest value a key may hold (Consul's default limit).
const MaxValueSize = 512 * 1024

// KV is one stored key. Version is assigned by the backend on every write,
// is never 0 for a stored key, and grows with every write to the store.
type KV struct {
	Key     string
	Value   []byte
	Version uint64
}

// OpKind says what an Op in a Txn does.
type OpKind int

const (
	// OpPut writes Value to Key if Key's version is Version (0: Key must not exist).
	OpPut OpKind = iota + 1
	// OpDelete deletes Key if its version is Version (which must not be 0).
	OpDelete
	// OpCheck writes nothing; it fails the Txn unless Key's version is
	// Version (0: Key must not exist).
	OpCheck
)

func (k OpKind) String() string {
	switch k {
	case OpPut:
		return "put"
	case OpDelete:
		return "delete"
	case OpCheck:
		return "check"
	}
	return fmt.Sprintf("OpKind(%d)", int(k))
}

// Op is one conditional operation in a Txn.
type Op struct {
	Kind    OpKind
	Key     string
	Value   []byte // OpPut only
	Version uint64 // the version the key must have now; 0 means "must not exist"
}

// TxnError says which operation of a Txn failed. It wraps ErrConflict or ErrExists.
type TxnError struct {
	Index int // position of the failed Op
	Op    Op
	Err   error
}

func (e *TxnError) Error() string {
	return fmt.Sprintf("transaction op %d (%s %q at version %d): %v", e.Index, e.Op.Kind, e.Op.Key, e.Op.Version, e.Err)
}

func (e *TxnError) Unwrap() error { return e.Err }

// Store is the state contract. Implementations are safe for concurrent use by
// many goroutines and, for the real backends, by many processes.
type Store interface {
	// Get returns the key, or an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) (KV, error)
	// List returns every key that starts with prefix, sorted by key.
	// An empty prefix lists everything.
	List(ctx context.Context, prefix string) ([]KV, error)
	// Create writes key only if it does not exist yet (else ErrExists) and
	// returns the new version.
	Create(ctx context.Context, key string, value []byte) (uint64, error)
	// Put replaces key only if its version is still version (else
	// ErrConflict, also when the key was deleted) and returns the new version.
	Put(ctx context.Context, key string, value []byte, version uint64) (uint64, error)
	// Delete removes key only if its version is still version (else ErrConflict).
	Delete(ctx context.Context, key string, version uint64) error
	// Txn applies all ops atomically or none of them. It returns the new
	// version of each op's key (0 for deletes and checks). A failed condition
	// returns a *TxnError wrapping ErrConflict (or ErrExists when the op
	// expected the key to be absent). One key may appear only once per Txn.
	Txn(ctx context.Context, ops []Op) ([]uint64, error)
	// Backend names the backend ("bolt", "consul", "memory").
	Backend() string
	// Health returns nil if the store can be read and written now.
	Health(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}

// ValidateKey checks a key: not empty, no leading "/", no empty segment, no
// NUL, at most 512 bytes.
func ValidateKey(key string) error {
	switch {
	case key == "":
		return errors.New("empty key")
	case len(key) > 512:
		return fmt.Errorf("key %.40q... is %d bytes long: keys are at most 512 bytes", key, len(key))
	case strings.HasPrefix(key, "/"):
		return fmt.Errorf("key %q starts with \"/\": keys are relative, like \"ipam/pools/prod\"", key)
	case strings.Contains(key, "//"):
		return fmt.Errorf("key %q has an empty segment (\"//\")", key)
	case strings.ContainsRune(key, 0):
		return fmt.Errorf("key %q contains a NUL byte", key)
	}
	return nil
}

// ValidateValue checks a value's size.
func ValidateValue(key string, v []byte) error {
	if len(v) > MaxValueSize {
		return fmt.Errorf("value for %q is %d bytes: values are at most %d bytes", key, len(v), MaxValueSize)
	}
	return nil
}

// ValidateTxn checks a transaction's shape before any backend sees it.
func ValidateTxn(ops []Op) error {
	if len(ops) == 0 {
		return errors.New("empty transaction")
	}
	if len(ops) > MaxTxnOps {
		return fmt.Errorf("transaction has %d ops: at most %d are allowed, split it", len(ops), MaxTxnOps)
	}
	seen := make(map[string]bool, len(ops))
	for i, op := range ops {
		if err := ValidateKey(op.Key); err != nil {
			return fmt.Errorf("op %d: %w", i, err)
		}
		if seen[op.Key] {
			return fmt.Errorf("op %d: key %q appears twice in one transaction", i, op.Key)
		}
		seen[op.Key] = true
		switch op.Kind {
		case OpPut:
			if err := ValidateValue(op.Key, op.Value); err != nil {
				return fmt.Errorf("op %d: %w", i, err)
			}
		case OpDelete:
			if op.Version == 0 {
				return fmt.Errorf("op %d: delete of %q needs the version read before", i, op.Key)
			}
		case OpCheck:
		default:
			return fmt.Errorf("op %d: unknown kind %v", i, op.Kind)
		}
	}
	return nil
}

// ErrNoChange may be returned by an Update function to leave the key as it is.
var ErrNoChange = errors.New("no change")

// Update runs a read-modify-write on key: it reads the key, calls fn with its
// value (nil and false when absent), and writes fn's result with a
// compare-and-swap. On a conflict it reads again and calls fn again, with a
// jittered backoff, until ctx ends. fn must therefore have no side effects
// beyond computing the next value. If fn returns ErrNoChange, Update returns
// the current version without writing; any other error is returned as is.
func Update(ctx context.Context, s Store, key string, fn func(cur []byte, exists bool) ([]byte, error)) (uint64, error) {
	backoff := time.Millisecond
	for attempt := 0; ; attempt++ {
		var cur KV
		exists := true
		kv, err := s.Get(ctx, key)
		switch {
		case err == nil:
			cur = kv
		case errors.Is(err, ErrNotFound):
			exists = false
		default:
			return 0, err
		}
		next, err := fn(cur.Value, exists)
		if errors.Is(err, ErrNoChange) {
			return cur.Version, nil
		}
		if err != nil {
			return 0, err
		}
		var ver uint64
		if exists {
			ver, err = s.Put(ctx, key, next, cur.Version)
		} else {
			ver, err = s.Create(ctx, key, next)
		}
		if err == nil {
			return ver, nil
		}
		if !errors.Is(err, ErrConflict) && !errors.Is(err, ErrExists) {
			return 0, err
		}
		if err := Backoff(ctx, attempt, &backoff); err != nil {
			return 0, fmt.Errorf("update %q: gave up after %d conflicts: %w", key, attempt+1, err)
		}
	}
}

// Retry runs fn again, after Backoff, while it fails on a version
// conflict or a create that found its key (another writer came first); it
// returns fn's first other result, or gives up when ctx ends.
func Retry(ctx context.Context, fn func() error) error {
	backoff := time.Millisecond
	for attempt := 0; ; attempt++ {
		err := fn()
		if err == nil || !(errors.Is(err, ErrConflict) || errors.Is(err, ErrExists)) {
			return err
		}
		if berr := Backoff(ctx, attempt, &backoff); berr != nil {
			return fmt.Errorf("gave up after %d conflicting writes: %w", attempt+1, err)
		}
	}
}

// Backoff sleeps a jittered, growing delay (1 ms doubling to 100 ms) between
// retries of a conflicting write, or returns ctx's error.
func Backoff(ctx context.Context, attempt int, d *time.Duration) error {
	if *d <= 0 {
		*d = time.Millisecond
	}
	sleep := time.Duration(rand.Int64N(int64(*d))) + *d/2
	if *d < 100*time.Millisecond {
		*d *= 2
	}
	t := time.NewTimer(sleep)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// hidden is an error whose text is a full sentence and which still matches a
// sentinel with errors.Is, without appending the sentinel's text.
type hidden struct {
	msg      string
	sentinel error
}

func (h *hidden) Error() string { return h.msg }
func (h *hidden) Unwrap() error { return h.sentinel }

// Unavailablef formats an error that says what is wrong and what to do, and
// matches ErrUnavailable.
func Unavailablef(format string, args ...any) error {
	return &hidden{msg: fmt.Sprintf(format, args...), sentinel: ErrUnavailable}
}
