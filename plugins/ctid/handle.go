package ctid

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

// Kinds of handle; a handle of one kind is not accepted as another.
const (
	handleScan = "scan"
	handleFace = "face"
)

// maxHandle bounds the length of a handle the plugin tries to open.
const maxHandle = 2048

// handle is what a sealed handle carries.
type handle struct {
	// BSN is the platform's business serial number.
	BSN string `json:"b"`
	// Exp is when the session expires, in Unix seconds.
	Exp int64 `json:"e"`
}

func (h handle) expires() time.Time { return time.Unix(h.Exp, 0) }

// sealer seals handles with AES-256-GCM under a key derived from the
// handle key, bound to the org code and the handle's kind, so that a handle
// is recognised by any replica's plugin configured for the same organisation and
// by no other.
type sealer struct {
	aead    cipher.AEAD
	orgCode string
}

func newSealer(handleKey []byte, orgCode string) (*sealer, error) {
	k, err := hkdf.Key(sha256.New, handleKey, nil, "shiming ctid handle v1", 32)
	if err != nil {
		return nil, fmt.Errorf("ctid: derive handle key: %w", err)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("ctid: handle cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("ctid: handle cipher: %w", err)
	}
	return &sealer{aead: aead, orgCode: orgCode}, nil
}

func (s *sealer) ad(kind string) []byte {
	return []byte("ctid\x00" + s.orgCode + "\x00" + kind)
}

// seal returns the handle as base64url text.
func (s *sealer) seal(kind string, h handle) (string, error) {
	plain, err := json.Marshal(h)
	if err != nil {
		return "", fmt.Errorf("ctid: encode handle: %w", err)
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("ctid: handle nonce: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, s.ad(kind))), nil
}

// open returns the handle sealed in text, or false for anything this
// sealer did not seal as kind.
func (s *sealer) open(kind, text string) (handle, bool) {
	if text == "" || len(text) > maxHandle {
		return handle{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(text)
	n := s.aead.NonceSize()
	if err != nil || len(raw) < n+s.aead.Overhead() {
		return handle{}, false
	}
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], s.ad(kind))
	if err != nil {
		return handle{}, false
	}
	var h handle
	if json.Unmarshal(plain, &h) != nil || h.Exp <= 0 || h.BSN == "" {
		return handle{}, false
	}
	return h, true
}
