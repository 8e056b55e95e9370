package firstboot

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// KeyPool keeps RSA host keys generated ahead of time, so a create does not
// wait the 0.1–0.7 s an RSA 3072 key takes (ed25519 and ECDSA keys are made
// on the spot: microseconds). Each pooled key is handed out once: Take
// claims it by renaming it, then deletes it. The zero value is not usable:
// Dir must be set.
type KeyPool struct {
	// Dir holds the pooled keys (0700; each key 0600). Required.
	Dir string
	// Size is how many keys Fill keeps ready; 0 means 8.
	Size int
}

func (p *KeyPool) size() int {
	if p.Size <= 0 {
		return 8
	}
	return p.Size
}

// Fill generates keys until Size are ready or ctx ends.
func (p *KeyPool) Fill(ctx context.Context) error {
	if err := os.MkdirAll(p.Dir, 0o700); err != nil {
		return fmt.Errorf("key pool: %w", err)
	}
	p.sweep()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := p.Ready()
		if err != nil || n >= p.size() {
			return err
		}
		key, err := rsa.GenerateKey(rand.Reader, RSABits)
		if err != nil {
			return fmt.Errorf("key pool: generate an RSA key: %w", err)
		}
		blk, err := ssh.MarshalPrivateKey(key, "")
		if err != nil {
			return fmt.Errorf("key pool: %w", err)
		}
		name := filepath.Join(p.Dir, "rsa-"+rand.Text()+".pem")
		if err := writeAtomic(name, pem.EncodeToMemory(blk), 0o600); err != nil {
			return fmt.Errorf("key pool: %w", err)
		}
	}
}

// sweep deletes private keys a crash left half-claimed (.taken-*) or
// half-written (.rsa-*.tmp-*) more than a minute ago; they are never handed out.
func (p *KeyPool) sweep() {
	ents, _ := os.ReadDir(p.Dir)
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, ".taken-") && !strings.HasPrefix(n, ".rsa-") {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > time.Minute {
			os.Remove(filepath.Join(p.Dir, n))
		}
	}
}

// Ready counts the keys waiting in the pool.
func (p *KeyPool) Ready() (int, error) {
	names, err := p.keys()
	return len(names), err
}

func (p *KeyPool) keys() ([]string, error) {
	ents, err := os.ReadDir(p.Dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("key pool: %w", err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "rsa-") && strings.HasSuffix(e.Name(), ".pem") {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// Take hands out one pooled RSA private key (OpenSSH PEM), or ok=false when
// the pool is empty. A key is claimed by an atomic rename, so two takers
// (even in two processes) never get the same one.
func (p *KeyPool) Take() (pemBytes []byte, ok bool, err error) {
	names, err := p.keys()
	if err != nil {
		return nil, false, err
	}
	for _, n := range names {
		claimed := filepath.Join(p.Dir, ".taken-"+n)
		if err := os.Rename(filepath.Join(p.Dir, n), claimed); err != nil {
			continue // another taker had it
		}
		b, err := os.ReadFile(claimed)
		os.Remove(claimed)
		if err != nil {
			return nil, false, fmt.Errorf("key pool: %w", err)
		}
		if _, err := ssh.ParsePrivateKey(b); err != nil {
			continue // a damaged key is dropped, never used
		}
		return b, true, nil
	}
	return nil, false, nil
}
