// Package boltstore is the embedded, single-host store.Store backend on
// go.etcd.io/bbolt.
//
// Several fatbox processes on one host may use the same file at once. bbolt
// itself lets only one process hold a database open (it flocks the file for the
// lifetime of the handle, and a waiting Open polls every 50 ms), so this backend
// opens the database for each operation, under a blocking flock on a sibling
// ".lock" file: writers take it exclusively, readers shared. Each write is one
// bbolt transaction, fsynced on commit, so a crash at any instant leaves either
// the old or the new state.
package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fatbox/fatbox/inventory/store"
)

var _ store.Store = (*Store)(nil)

var bucketKV = []byte("kv")

// Store is the bbolt backend. Create it with Open.
type Store struct {
	path string
	mu   sync.RWMutex // serialises this process's users; the flock serialises processes
}

// Open prepares the database file at path, creating it and its directory if
// needed, and checks that it can be written.
func Open(path string) (*Store, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("embedded store path %q is relative: give an absolute path, like /var/lib/fatbox/state.db", path)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, store.Unavailablef("state dir %q cannot be created: %v: run as root or choose another --state-dir", dir, err)
	}
	if err := checkWritable(dir); err != nil {
		return nil, err
	}
	s := &Store{path: path}
	if err := s.update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketKV)
		return err
	}); err != nil {
		return nil, err
	}
	return s, nil
}

func checkWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".fatbox-write-check-*")
	if err != nil {
		return store.Unavailablef("state dir %q is not writable (%v): run fatbox as root or pass --state-dir with a writable directory", dir, unwrapPathErr(err))
	}
	name := f.Name()
	f.Close()
	os.Remove(name)
	return nil
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

func (s *Store) Backend() string { return "bolt" }

func (s *Store) Close() error { return nil }

func (s *Store) Health(ctx context.Context) error {
	if err := checkWritable(filepath.Dir(s.path)); err != nil {
		return err
	}
	return s.view(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketKV) == nil {
			return store.Unavailablef("embedded store %q has no %q bucket: the file is not a fatbox store", s.path, bucketKV)
		}
		return nil
	})
}

// withDB opens the database under the lock, runs fn, and closes it again.
func (s *Store) withDB(write bool, fn func(db *bolt.DB) error) error {
	if write {
		s.mu.Lock()
		defer s.mu.Unlock()
	} else {
		s.mu.RLock()
		defer s.mu.RUnlock()
	}
	lf, err := os.OpenFile(s.path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return store.Unavailablef("open lock file for %q: %v: check the state dir's permissions", s.path, unwrapPathErr(err))
	}
	defer lf.Close() // closing the descriptor drops the flock
	how := syscall.LOCK_SH
	if write {
		how = syscall.LOCK_EX
	}
	for {
		err = syscall.Flock(int(lf.Fd()), how)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return store.Unavailablef("lock %q: %v", s.path+".lock", err)
	}
	// Only writers may create the file; readers hold a shared lock, so a
	// missing file is opened read-write once by a writer first (Open does).
	db, err := bolt.Open(s.path, 0o600, &bolt.Options{Timeout: 30 * time.Second, ReadOnly: !write})
	if err != nil {
		return store.Unavailablef("open embedded store %q: %v", s.path, err)
	}
	ferr := fn(db)
	cerr := db.Close()
	if ferr != nil {
		return ferr
	}
	return cerr
}

func (s *Store) view(fn func(tx *bolt.Tx) error) error {
	return s.withDB(false, func(db *bolt.DB) error { return db.View(fn) })
}

func (s *Store) update(fn func(tx *bolt.Tx) error) error {
	return s.withDB(true, func(db *bolt.DB) error { return db.Update(fn) })
}

func decode(key string, raw []byte) (store.KV, error) {
	if len(raw) < 8 {
		return store.KV{}, fmt.Errorf("embedded store: value of %q is corrupt (%d bytes)", key, len(raw))
	}
	return store.KV{Key: key, Version: binary.BigEndian.Uint64(raw[:8]), Value: append([]byte(nil), raw[8:]...)}, nil
}

func encode(version uint64, value []byte) []byte {
	b := make([]byte, 8+len(value))
	binary.BigEndian.PutUint64(b, version)
	copy(b[8:], value)
	return b
}

func (s *Store) Get(ctx context.Context, key string) (store.KV, error) {
	if err := store.ValidateKey(key); err != nil {
		return store.KV{}, err
	}
	var kv store.KV
	err := s.view(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucketKV).Get([]byte(key))
		if raw == nil {
			return fmt.Errorf("get %q: %w", key, store.ErrNotFound)
		}
		var err error
		kv, err = decode(key, raw)
		return err
	})
	return kv, err
}

func (s *Store) List(ctx context.Context, prefix string) ([]store.KV, error) {
	var out []store.KV
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketKV).Cursor()
		p := []byte(prefix)
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			kv, err := decode(string(k), v)
			if err != nil {
				return err
			}
			out = append(out, kv)
		}
		return nil
	})
	return out, err
}

func (s *Store) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	return store.CreateVia(ctx, s.Txn, key, value)
}

func (s *Store) Put(ctx context.Context, key string, value []byte, version uint64) (uint64, error) {
	return store.PutVia(ctx, s.Txn, key, value, version)
}

func (s *Store) Delete(ctx context.Context, key string, version uint64) error {
	return store.DeleteVia(ctx, s.Txn, key, version)
}

func (s *Store) Txn(ctx context.Context, ops []store.Op) ([]uint64, error) {
	if err := store.ValidateTxn(ops); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]uint64, len(ops))
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketKV)
		for i, op := range ops {
			var have uint64
			if raw := b.Get([]byte(op.Key)); raw != nil {
				kv, err := decode(op.Key, raw)
				if err != nil {
					return err
				}
				have = kv.Version
			}
			if have != op.Version {
				e := store.ErrConflict
				if op.Version == 0 {
					e = store.ErrExists
				}
				return &store.TxnError{Index: i, Op: op, Err: e}
			}
		}
		for i, op := range ops {
			switch op.Kind {
			case store.OpPut:
				v, err := b.NextSequence()
				if err != nil {
					return err
				}
				if err := b.Put([]byte(op.Key), encode(v, op.Value)); err != nil {
					return err
				}
				out[i] = v
			case store.OpDelete:
				if err := b.Delete([]byte(op.Key)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
