package firstboot

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"
)

// HostKey is one SSH host key in OpenSSH formats.
type HostKey struct {
	// Type is the name used in ssh_host_<Type>_key: "ed25519", "ecdsa" or "rsa".
	Type string
	// Private is the OpenSSH private key ("-----BEGIN OPENSSH PRIVATE KEY-----").
	Private []byte
	// Public is the authorized_keys-format line, newline terminated.
	Public []byte
	// Fingerprint is ssh.FingerprintSHA256 of the public key ("SHA256:...").
	Fingerprint string
}

// FileName is the base name of the private key file, e.g. "ssh_host_ed25519_key".
func (k HostKey) FileName() string { return "ssh_host_" + k.Type + "_key" }

// Keys are a container's SSH host keys.
type Keys struct {
	Ed25519, ECDSA, RSA HostKey
}

// All returns the keys in a fixed order: ed25519, ecdsa, rsa.
func (k Keys) All() []HostKey { return []HostKey{k.Ed25519, k.ECDSA, k.RSA} }

// RSABits is the size of the generated RSA host key.
const RSABits = 3072

var keyGens = []struct {
	typ string
	gen func() (crypto.PrivateKey, error)
}{
	{"ed25519", func() (crypto.PrivateKey, error) {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}},
	{"ecdsa", func() (crypto.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }},
	{"rsa", func() (crypto.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, RSABits) }},
}

// HostKeys returns the SSH host keys kept under stateDir/ssh/, generating
// any that are missing. Keys that exist are loaded and returned unchanged; a
// missing or stale .pub file is rewritten from its private key. Files are
// written atomically (temp file, fsync, rename), private 0600, public 0644.
func HostKeys(stateDir string) (Keys, error) { return HostKeysFrom(stateDir, nil) }

// HostKeysFrom is HostKeys taking a missing RSA key from pool when it has
// one (nil: always generate).
func HostKeysFrom(stateDir string, pool *KeyPool) (Keys, error) {
	dir := filepath.Join(stateDir, "ssh")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Keys{}, fmt.Errorf("firstboot: host keys: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return Keys{}, fmt.Errorf("firstboot: host keys: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return Keys{}, err
	}
	defer unlock()

	out := make([]HostKey, len(keyGens))
	errs := make([]error, len(keyGens))
	fresh := make([]bool, len(keyGens))
	var wg sync.WaitGroup
	for i, kg := range keyGens {
		out[i].Type = kg.typ
		priv := filepath.Join(dir, out[i].FileName())
		pemBytes, err := os.ReadFile(priv)
		switch {
		case err == nil:
			out[i].Private = pemBytes
		case errors.Is(err, fs.ErrNotExist) && kg.typ == "rsa" && pool != nil && takeFromPool(pool, &out[i]):
			fresh[i] = true
		case errors.Is(err, fs.ErrNotExist):
			wg.Add(1)
			go func() {
				defer wg.Done()
				key, err := kg.gen()
				if err == nil {
					var blk *pem.Block
					if blk, err = ssh.MarshalPrivateKey(key, ""); err == nil {
						out[i].Private = pem.EncodeToMemory(blk)
					}
				}
				if err != nil {
					errs[i] = fmt.Errorf("firstboot: generate %s host key: %w", kg.typ, err)
				}
			}()
			fresh[i] = true
		default:
			return Keys{}, fmt.Errorf("firstboot: host keys: %w", err)
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Keys{}, err
	}

	for i := range out {
		k := &out[i]
		priv := filepath.Join(dir, k.FileName())
		signer, err := ssh.ParsePrivateKey(k.Private)
		if err != nil {
			return Keys{}, fmt.Errorf("firstboot: %s: %w (refusing to replace an existing host key; delete it by hand to rotate)", priv, err)
		}
		k.Public = ssh.MarshalAuthorizedKey(signer.PublicKey())
		k.Fingerprint = ssh.FingerprintSHA256(signer.PublicKey())
		if fresh[i] {
			if err := writeAtomic(priv, k.Private, 0o600); err != nil {
				return Keys{}, err
			}
		}
		pub := priv + ".pub"
		if cur, err := os.ReadFile(pub); err != nil || !bytes.Equal(cur, k.Public) {
			if err := writeAtomic(pub, k.Public, 0o644); err != nil {
				return Keys{}, err
			}
		}
	}
	if err := syncDir(dir); err != nil {
		return Keys{}, err
	}
	return Keys{Ed25519: out[0], ECDSA: out[1], RSA: out[2]}, nil
}

// takeFromPool fills k.Private from the pool; false if it had none (or
// failed: the key is then generated as without a pool).
func takeFromPool(pool *KeyPool, k *HostKey) bool {
	b, ok, err := pool.Take()
	if err != nil || !ok {
		return false
	}
	k.Private = b
	return true
}

func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("firstboot: host keys lock: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("firstboot: host keys lock: %w", err)
	}
	return func() { _ = f.Close() }, nil // close releases the flock
}

// writeAtomic writes a file in a trusted (host-side) directory.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("firstboot: %w", err)
	}
	tmp := f.Name()
	err = func() error {
		if err := f.Chmod(mode); err != nil {
			return err
		}
		if _, err := f.Write(data); err != nil {
			return err
		}
		return f.Sync()
	}()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("firstboot: write %s: %w", path, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("firstboot: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("firstboot: sync %s: %w", dir, err)
	}
	return nil
}
