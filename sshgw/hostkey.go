package sshgw

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	gossh "golang.org/x/crypto/ssh"
)

// LoadOrCreateKey returns the ed25519 key kept at file, generating it the
// first time (written under a temp name and linked into place, so two
// starts never keep different keys).
func LoadOrCreateKey(file, comment string) (gossh.Signer, error) {
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
			return nil, fmt.Errorf("gateway key dir %q: %w", filepath.Dir(file), err)
		}
		_, k, gerr := ed25519.GenerateKey(rand.Reader)
		if gerr != nil {
			return nil, gerr
		}
		blk, merr := gossh.MarshalPrivateKey(k, comment)
		if merr != nil {
			return nil, merr
		}
		tmp, terr := os.CreateTemp(filepath.Dir(file), ".key-*")
		if terr != nil {
			return nil, fmt.Errorf("gateway key %q: %w", file, terr)
		}
		defer os.Remove(tmp.Name())
		if _, err := tmp.Write(pem.EncodeToMemory(blk)); err != nil {
			tmp.Close()
			return nil, fmt.Errorf("gateway key %q: %w", file, err)
		}
		if err := tmp.Sync(); err != nil {
			tmp.Close()
			return nil, err
		}
		tmp.Close()
		if err := os.Link(tmp.Name(), file); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("gateway key %q: %w", file, err)
		}
		b, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, fmt.Errorf("gateway key %q: %w", file, err)
	}
	s, err := gossh.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("gateway key %q is not an OpenSSH private key (%w): move it away and a new one is made at the next start", file, err)
	}
	return s, nil
}
