package ctid

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Sign returns base64url (no padding) of the RSA-SHA256 (PKCS #1 v1.5)
// signature of a bizPackage's bytes: the "sign" of an envelope.
func Sign(key *rsa.PrivateKey, bizPackage []byte) (string, error) {
	sum := sha256.Sum256(bizPackage)
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("ctid: sign: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sig), nil
}

// Verify checks an envelope's sign (base64url, padded or not).
func Verify(key *rsa.PublicKey, bizPackage []byte, sign string) error {
	sig, err := decodeB64URL(sign)
	if err != nil {
		return fmt.Errorf("ctid: verify: %w", err)
	}
	sum := sha256.Sum256(bizPackage)
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig); err != nil {
		return fmt.Errorf("ctid: verify: %w", err)
	}
	return nil
}

// EncryptRetainData builds authApplyRetainData: base64url (no padding) of
// RSA-OAEP-SHA256(platform key, aesKey‖iv) followed by AES-128-CBC with
// PKCS #7 padding of the JSON data.
func EncryptRetainData(platform *rsa.PublicKey, data []byte) (string, error) {
	secret := make([]byte, 32) // 16-byte AES key, 16-byte IV
	if _, err := rand.Read(secret); err != nil {
		return "", err
	}
	head, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, platform, secret, nil)
	if err != nil {
		return "", fmt.Errorf("ctid: encrypt retain data: %w", err)
	}
	block, _ := aes.NewCipher(secret[:16])
	body := pkcs7Pad(data, aes.BlockSize)
	cipher.NewCBCEncrypter(block, secret[16:]).CryptBlocks(body, body)
	return base64.RawURLEncoding.EncodeToString(append(head, body...)), nil
}

var errRetainData = errors.New("ctid: retain data cannot be decrypted")

// decryptRetainData reverses EncryptRetainData. The RSA part must use
// OAEP with SHA-256 (PKCS #1 v1.5 encryption is not accepted: Go 1.26
// deprecates it as an oracle); the AES key may be 16, 24 or 32 bytes.
func decryptRetainData(platform *rsa.PrivateKey, s string) ([]byte, error) {
	raw, err := decodeB64URL(s)
	if err != nil {
		return nil, errRetainData
	}
	k := platform.Size()
	if len(raw) < k+aes.BlockSize || (len(raw)-k)%aes.BlockSize != 0 {
		return nil, errRetainData
	}
	secret, err := rsa.DecryptOAEP(sha256.New(), nil, platform, raw[:k], nil)
	if err != nil {
		return nil, errRetainData
	}
	keyLen := len(secret) - aes.BlockSize
	if keyLen != 16 && keyLen != 24 && keyLen != 32 {
		return nil, errRetainData
	}
	block, err := aes.NewCipher(secret[:keyLen])
	if err != nil {
		return nil, errRetainData
	}
	body := bytes.Clone(raw[k:])
	cipher.NewCBCDecrypter(block, secret[keyLen:]).CryptBlocks(body, body)
	out, ok := pkcs7Unpad(body, aes.BlockSize)
	if !ok {
		return nil, errRetainData
	}
	return out, nil
}

func pkcs7Pad(b []byte, size int) []byte {
	n := size - len(b)%size
	return append(bytes.Clone(b), bytes.Repeat([]byte{byte(n)}, n)...)
}

func pkcs7Unpad(b []byte, size int) ([]byte, bool) {
	if len(b) == 0 || len(b)%size != 0 {
		return nil, false
	}
	n := int(b[len(b)-1])
	if n == 0 || n > size {
		return nil, false
	}
	for _, c := range b[len(b)-n:] {
		if int(c) != n {
			return nil, false
		}
	}
	return b[:len(b)-n], true
}

// decodeB64URL accepts base64url with or without padding.
func decodeB64URL(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(strings.TrimSpace(s), "="))
}

// ParsePublicKey reads an RSA public key from PEM (PKIX "PUBLIC KEY" or
// PKCS #1 "RSA PUBLIC KEY").
func ParsePublicKey(pemText string) (*rsa.PublicKey, error) {
	block, _ := pem.Decode([]byte(pemText))
	if block == nil {
		return nil, errors.New("ctid: no PEM block")
	}
	if block.Type == "RSA PUBLIC KEY" {
		return x509.ParsePKCS1PublicKey(block.Bytes)
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("ctid: public key: %w", err)
	}
	pub, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("ctid: public key is not RSA")
	}
	return pub, nil
}

// ParsePrivateKey reads an RSA private key from PEM (PKCS #8 or PKCS #1).
func ParsePrivateKey(pemText string) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(pemText))
	if block == nil {
		return nil, errors.New("ctid: no PEM block")
	}
	if block.Type == "RSA PRIVATE KEY" {
		return x509.ParsePKCS1PrivateKey(block.Bytes)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("ctid: private key: %w", err)
	}
	priv, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("ctid: private key is not RSA")
	}
	return priv, nil
}

// PublicKeyPEM encodes a public key as PKIX PEM.
func PublicKeyPEM(pub *rsa.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func privateKeyPEM(priv *rsa.PrivateKey) string {
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// platformKeyFile is where the platform key pair lives in a data folder.
const platformKeyFile = "ctid-platform-key.pem"

// loadOrCreatePlatformKey reads the platform key from dir, creating an
// RSA 2048 key (mode 0600) on first use; with no dir it lives in memory.
func loadOrCreatePlatformKey(dir string) (*rsa.PrivateKey, error) {
	if dir == "" {
		return rsa.GenerateKey(rand.Reader, 2048)
	}
	path := filepath.Join(dir, platformKeyFile)
	if b, err := os.ReadFile(path); err == nil {
		return ParsePrivateKey(string(b))
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return loadOrCreatePlatformKey(dir)
	}
	if err != nil {
		return nil, err
	}
	if _, err := f.WriteString(privateKeyPEM(key)); err != nil {
		f.Close()
		return nil, err
	}
	return key, f.Close()
}
