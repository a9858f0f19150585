// Package handle seals the handles a provider plugin gives out — QR-session
// uuids, face certify ids, SMS tickets — so that any instance of the plugin
// configured alike can open them, and nobody else can make or change one.
//
// # Why handles carry their own state
//
// A plugin process serves one gateway replica, and the gateway runs
// several replicas and restarts plugins: the BeginScan that made a uuid
// and the PollScan that presents it may reach two different processes. A
// plugin therefore keeps no session table; whatever a later call needs
// (the vendor's session id, the expiry, the state, a code's hash) travels
// inside the handle itself, encrypted and authenticated under a key every
// replica shares: the handle_key the gateway derives from its master key
// and puts in each provider's configuration.
//
// A handle is also bound to what it was made for. Seal and Open take a
// kind ("scan", "face", "ticket") and a binding (the app id, org code or
// access key the handle was issued under): a handle made for another kind,
// another app or under another handle_key does not open, so the plugin
// answers UUIDInvalid without asking its vendor, and a session cannot be
// moved from one configuration to another.
//
// # Format
//
// A handle is base64url (no padding) of a random 96-bit nonce followed by
// AES-256-GCM of the JSON encoding of the value. The key is derived with
// HKDF-SHA256 from handle_key and the plugin's label; the kind and the
// binding are the additional data. A handle is at most MaxLen bytes.
// Random nonces keep one key safe for about 2³² handles; change the label
// (its "v1") to change the key and the format together.
package handle

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
)

// MaxLen bounds a handle's text: Seal refuses to make a longer one and
// Open does not look at one, so a caller need not bound what it is given.
const MaxLen = 2048

// Errors of NewSealer and Seal.
var (
	ErrShortKey = errors.New("handle: the key must be at least 32 bytes")
	ErrNoLabel  = errors.New("handle: a label is required")
	ErrTooLong  = errors.New("handle: the sealed value would exceed MaxLen")
)

// Sealer seals and opens handles under one key. It is safe for concurrent
// use.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer returns a sealer keyed by key (the configuration's
// handle_key, at least 32 bytes) and label, which names the plugin and
// the format, e.g. "shiming wechat handle v1": two labels give unrelated
// keys.
func NewSealer(key []byte, label string) (*Sealer, error) {
	if len(key) < 32 {
		return nil, ErrShortKey
	}
	if label == "" {
		return nil, ErrNoLabel
	}
	k, err := hkdf.Key(sha256.New, key, nil, label, 32)
	if err != nil {
		return nil, fmt.Errorf("handle: derive key: %w", err)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("handle: cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("handle: cipher: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal returns the handle of v, a value encoding/json can encode, made
// for kind under binding. Two seals of one value differ.
func (s *Sealer) Seal(kind, binding string, v any) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("handle: seal: %w", err)
	}
	n := s.aead.NonceSize()
	if base64.RawURLEncoding.EncodedLen(n+len(plain)+s.aead.Overhead()) > MaxLen {
		return "", ErrTooLong
	}
	nonce := make([]byte, n, n+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("handle: seal: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, additional(kind, binding))), nil
}

// Open decodes into v the handle text that this key sealed for kind under
// binding, and reports whether it did. Anything else — empty, too long,
// malformed, altered, made for another kind or binding, under another
// key, or not decodable into v — is false, and v is then unspecified.
func (s *Sealer) Open(kind, binding, text string, v any) bool {
	if text == "" || len(text) > MaxLen {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(text)
	n := s.aead.NonceSize()
	if err != nil || len(raw) < n+s.aead.Overhead() {
		return false
	}
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], additional(kind, binding))
	if err != nil {
		return false
	}
	return json.Unmarshal(plain, v) == nil
}

// additional is the additional data of a handle: kind and binding, each
// prefixed with its length so that no two pairs encode alike.
func additional(kind, binding string) []byte {
	ad := make([]byte, 0, 2*binary.MaxVarintLen64+len(kind)+len(binding))
	ad = binary.AppendUvarint(ad, uint64(len(kind)))
	ad = append(ad, kind...)
	ad = binary.AppendUvarint(ad, uint64(len(binding)))
	return append(ad, binding...)
}
