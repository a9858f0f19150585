package govidp

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Files kept in the data folder, under dataSubdir.
const (
	dataSubdir = "govidp"
	keysFile   = "signing_keys.pem"
	secretFile = "subject_secret"
)

// PEM headers of a key block.
const (
	headerKeyID    = "Key-Id"
	headerRetireAt = "Retire-At" // only on previous keys: when they leave the JWKS
)

// sigKey is one RSA signing key.
type sigKey struct {
	id       string
	key      *rsa.PrivateKey
	retireAt time.Time // zero for the current key
}

func (k *sigKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *sigKey) Key() any                                    { return k.key }
func (k *sigKey) ID() string                                  { return k.id }

// pubKey is the public half of a sigKey, as the JWKS lists it.
type pubKey struct{ k *sigKey }

func (p pubKey) ID() string                         { return p.k.id }
func (p pubKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (p pubKey) Use() string                        { return "sig" }
func (p pubKey) Key() any                           { return &p.k.key.PublicKey }

// keyring holds the current signing key and the previous keys whose
// tokens may still be live, persisted in one PEM file when path is set.
type keyring struct {
	path string
	now  func() time.Time

	mu       sync.Mutex
	current  *sigKey
	previous []*sigKey
}

func newSigKey() (*sigKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("govidp: generate key: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("govidp: marshal key: %w", err)
	}
	sum := sha256.Sum256(der)
	return &sigKey{id: base64.RawURLEncoding.EncodeToString(sum[:12]), key: key}, nil
}

// loadKeyring reads dataDir/govidp/signing_keys.pem, creating it with a
// fresh key on first use. An empty dataDir keeps the keys in memory.
func loadKeyring(dataDir string, now func() time.Time) (*keyring, error) {
	k := &keyring{now: now}
	if dataDir != "" {
		dir := filepath.Join(dataDir, dataSubdir)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("govidp: data folder: %w", err)
		}
		k.path = filepath.Join(dir, keysFile)
		b, err := os.ReadFile(k.path)
		switch {
		case err == nil:
			if err := k.decode(b); err != nil {
				return nil, fmt.Errorf("govidp: %s: %w", keysFile, err)
			}
			return k, nil
		case !errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("govidp: keys: %w", err)
		}
	}
	cur, err := newSigKey()
	if err != nil {
		return nil, err
	}
	k.current = cur
	if err := k.saveLocked(); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *keyring) decode(b []byte) error {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return fmt.Errorf("key %q: %w", block.Headers[headerKeyID], err)
		}
		rk, isRSA := parsed.(*rsa.PrivateKey)
		if !isRSA || block.Headers[headerKeyID] == "" {
			return errors.New("every block must be an RSA key with a Key-Id")
		}
		sk := &sigKey{id: block.Headers[headerKeyID], key: rk}
		if ra := block.Headers[headerRetireAt]; ra != "" {
			if sk.retireAt, err = time.Parse(time.RFC3339, ra); err != nil {
				return fmt.Errorf("key %q: bad %s", sk.id, headerRetireAt)
			}
			k.previous = append(k.previous, sk)
			continue
		}
		if k.current != nil {
			return errors.New("more than one current key")
		}
		k.current = sk
	}
	if k.current == nil {
		return errors.New("no current key")
	}
	return nil
}

// saveLocked writes the keys atomically with mode 0600. The caller holds
// k.mu or owns k.
func (k *keyring) saveLocked() error {
	if k.path == "" {
		return nil
	}
	var b bytes.Buffer
	for _, sk := range append([]*sigKey{k.current}, k.previous...) {
		der, err := x509.MarshalPKCS8PrivateKey(sk.key)
		if err != nil {
			return fmt.Errorf("govidp: marshal key: %w", err)
		}
		h := map[string]string{headerKeyID: sk.id}
		if !sk.retireAt.IsZero() {
			h[headerRetireAt] = sk.retireAt.UTC().Format(time.RFC3339)
		}
		if err := pem.Encode(&b, &pem.Block{Type: "PRIVATE KEY", Headers: h, Bytes: der}); err != nil {
			return fmt.Errorf("govidp: encode key: %w", err)
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(k.path), keysFile+".*")
	if err != nil {
		return fmt.Errorf("govidp: save keys: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("govidp: save keys: %w", err)
	}
	if _, err := tmp.Write(b.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("govidp: save keys: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("govidp: save keys: %w", err)
	}
	if err := os.Rename(tmp.Name(), k.path); err != nil {
		return fmt.Errorf("govidp: save keys: %w", err)
	}
	return nil
}

// rotate makes a new key current; the old one stays published for keep.
func (k *keyring) rotate(keep time.Duration) error {
	next, err := newSigKey()
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	old := k.current
	old.retireAt = now.Add(keep)
	kept := []*sigKey{old}
	for _, p := range k.previous {
		if now.Before(p.retireAt) {
			kept = append(kept, p)
		}
	}
	k.current, k.previous = next, kept
	return k.saveLocked()
}

// signing returns the current key.
func (k *keyring) signing() *sigKey {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.current
}

// public returns the keys the JWKS publishes: the current one and the
// previous ones not yet retired.
func (k *keyring) public() []op.Key {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	keys := []op.Key{pubKey{k.current}}
	for _, p := range k.previous {
		if now.Before(p.retireAt) {
			keys = append(keys, pubKey{p})
		}
	}
	return keys
}

// loadSecret returns the data folder's subject secret, creating it (mode
// 0600) on first use; an empty dataDir gives a fresh in-memory secret.
func loadSecret(dataDir string) ([]byte, error) {
	fresh := make([]byte, 32)
	_, _ = rand.Read(fresh) // never fails: crypto/rand aborts the program instead
	if dataDir == "" {
		return fresh, nil
	}
	dir := filepath.Join(dataDir, dataSubdir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("govidp: data folder: %w", err)
	}
	path := filepath.Join(dir, secretFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		_, werr := f.WriteString(hex.EncodeToString(fresh) + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return nil, fmt.Errorf("govidp: secret: %w", werr)
		}
		return fresh, nil
	}
	if !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("govidp: secret: %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("govidp: secret: %w", err)
	}
	secret, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(secret) < 16 {
		return nil, fmt.Errorf("govidp: secret file %s is not 16+ hex bytes", secretFile)
	}
	return secret, nil
}
