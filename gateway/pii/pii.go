// Package pii protects personal data at rest: it seals values with AEAD
// (AES-256-GCM) and derives keyed hashes for lookups, all from one master
// key. ID numbers, names and phones reach storage only through a Keyring.
package pii

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the length of a master key in bytes.
const KeySize = 32

// version prefixes every sealed value so that keys can be rotated later.
const version byte = 1

// ErrOpen is returned when a sealed value cannot be opened: it was
// changed, sealed under another key, or sealed for another purpose.
var ErrOpen = errors.New("pii: cannot open sealed value")

// Keyring seals and hashes personal data under keys derived from a master
// key. It is safe for concurrent use.
type Keyring struct {
	aead   cipher.AEAD
	lookup []byte
	master []byte
}

// New derives a keyring from a master key of KeySize bytes.
func New(master []byte) (*Keyring, error) {
	if len(master) != KeySize {
		return nil, fmt.Errorf("pii: master key must be %d bytes, got %d", KeySize, len(master))
	}
	sealKey, err := hkdf.Key(sha256.New, master, nil, "shiming pii seal v1", 32)
	if err != nil {
		return nil, fmt.Errorf("pii: derive seal key: %w", err)
	}
	lookupKey, err := hkdf.Key(sha256.New, master, nil, "shiming pii lookup v1", 32)
	if err != nil {
		return nil, fmt.Errorf("pii: derive lookup key: %w", err)
	}
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		return nil, fmt.Errorf("pii: cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("pii: gcm: %w", err)
	}
	return &Keyring{aead: aead, lookup: lookupKey, master: append([]byte(nil), master...)}, nil
}

// Seal encrypts plaintext. purpose is bound into the ciphertext as
// additional data ("id_number", "phone", "session", ...) so that a value
// sealed for one purpose cannot be opened as another.
func (k *Keyring) Seal(purpose string, plaintext []byte) []byte {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic("pii: crypto/rand failed: " + err.Error())
	}
	out := make([]byte, 0, 1+len(nonce)+len(plaintext)+k.aead.Overhead())
	out = append(out, version)
	out = append(out, nonce...)
	return k.aead.Seal(out, nonce, plaintext, []byte(purpose))
}

// Open decrypts a value sealed for purpose.
func (k *Keyring) Open(purpose string, sealed []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < 1+n+k.aead.Overhead() || sealed[0] != version {
		return nil, ErrOpen
	}
	pt, err := k.aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(purpose))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// SealString and OpenString are Seal and Open for strings.
func (k *Keyring) SealString(purpose, s string) []byte { return k.Seal(purpose, []byte(s)) }

func (k *Keyring) OpenString(purpose string, sealed []byte) (string, error) {
	b, err := k.Open(purpose, sealed)
	return string(b), err
}

// Lookup returns a keyed hash (HMAC-SHA-256, hex) of value for purpose.
// Equal inputs give equal hashes, so the hash can be a unique index, but
// without the master key it reveals nothing, not even to a dictionary of
// all possible ID numbers.
func (k *Keyring) Lookup(purpose, value string) string {
	m := hmac.New(sha256.New, k.lookup)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return hex.EncodeToString(m.Sum(nil))
}

// Derive returns a 32-byte key for another use of the master key
// (signing cookies, plugin tickets), separated by label.
func (k *Keyring) Derive(label string) []byte {
	key, err := hkdf.Key(sha256.New, k.master, nil, "shiming derive v1 "+label, 32)
	if err != nil {
		panic("pii: derive: " + err.Error())
	}
	return key
}

// LoadOrCreateKey reads a base64 master key from path, or, when the file
// does not exist, generates one and writes it with mode 0600 (creating
// the folder with mode 0700). A key file readable by group or others is
// refused.
func LoadOrCreateKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key := make([]byte, KeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("pii: generate key: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("pii: key folder: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("pii: write key: %w", err)
		}
		_, werr := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return nil, fmt.Errorf("pii: write key: %w", werr)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pii: read key: %w", err)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("pii: key file %s is readable by others (mode %o); chmod 600 it", path, st.Mode().Perm())
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != KeySize {
		return nil, fmt.Errorf("pii: key file %s must hold %d base64-encoded bytes", path, KeySize)
	}
	return key, nil
}
