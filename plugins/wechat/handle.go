package wechat

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// maxHandle bounds the handles Open looks at.
const maxHandle = 2048

// sealer makes the handles the provider gives out (QR-session uuids,
// face certify ids): AES-256-GCM over a small JSON payload, under a key
// derived with HKDF-SHA256 from handle_key, the handle's purpose and the
// app id. Any replica configured alike opens them; a handle altered, made
// for another purpose, or made under another app id or handle_key does
// not open.
type sealer struct {
	aead   cipher.AEAD
	prefix string
}

func newSealer(handleKey []byte, purpose, appID, prefix string) (*sealer, error) {
	key, err := hkdf.Key(sha256.New, handleKey, nil, purpose+"\x00"+appID, 32)
	if err != nil {
		return nil, fmt.Errorf("wechat: derive handle key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("wechat: handle cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("wechat: handle cipher: %w", err)
	}
	return &sealer{aead: aead, prefix: prefix}, nil
}

// seal returns the handle of v.
func (s *sealer) seal(v any) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("wechat: seal handle: %w", err)
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("wechat: seal handle: %w", err)
	}
	return s.prefix + base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, []byte(s.prefix))), nil
}

// open decodes a handle into v; false means it is not one of ours.
func (s *sealer) open(h string, v any) bool {
	if len(h) > maxHandle || !strings.HasPrefix(h, s.prefix) {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(h[len(s.prefix):])
	if err != nil || len(raw) < s.aead.NonceSize()+s.aead.Overhead() {
		return false
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(s.prefix))
	if err != nil {
		return false
	}
	return json.Unmarshal(plain, v) == nil
}

// scanHandle is what a QR-session uuid carries.
type scanHandle struct {
	UUID    string `json:"u"` // WeChat's QR uuid
	State   string `json:"s"` // the state given to BeginScan
	Expires int64  `json:"e"` // unix seconds
}

func (h scanHandle) expires() time.Time { return time.Unix(h.Expires, 0) }

// faceHandle is what a face certify id carries: everything
// queryverifyinfo needs besides the access token.
type faceHandle struct {
	VerifyID string `json:"v"`
	OutSeqNo string `json:"q"`
	OpenID   string `json:"o"`
	CertHash string `json:"h"`
	Expires  int64  `json:"e"` // unix seconds
}
