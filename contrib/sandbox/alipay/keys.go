package alipay

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Files kept in the data folder, under dataSubdir.
const (
	dataSubdir = "alipay"
	keyFile    = "alipay_private_key.pem"
	secretFile = "user_id_secret"
)

// loadKeys returns the sandbox's "Alipay" RSA-2048 private key and the user
// id secret of a data folder, creating them on first use. An empty dir
// gives fresh in-memory values.
func loadKeys(dataDir string) (*rsa.PrivateKey, []byte, error) {
	if dataDir == "" {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, nil, fmt.Errorf("alipay: generate key: %w", err)
		}
		secret := make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, nil, fmt.Errorf("alipay: generate secret: %w", err)
		}
		return key, secret, nil
	}
	dir := filepath.Join(dataDir, dataSubdir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("alipay: data folder: %w", err)
	}
	keyPEM, err := readOrCreate(filepath.Join(dir, keyFile), func() ([]byte, error) {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("alipay: key file: %w", err)
	}
	key, err := parsePrivateKey(string(keyPEM))
	if err != nil {
		return nil, nil, fmt.Errorf("alipay: key file %s: %w", keyFile, err)
	}
	hexSecret, err := readOrCreate(filepath.Join(dir, secretFile), func() ([]byte, error) {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		return []byte(hex.EncodeToString(b) + "\n"), nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("alipay: secret file: %w", err)
	}
	secret, err := hex.DecodeString(strings.TrimSpace(string(hexSecret)))
	if err != nil || len(secret) < 16 {
		return nil, nil, fmt.Errorf("alipay: secret file %s is not 16+ hex bytes", secretFile)
	}
	return key, secret, nil
}

// readOrCreate returns a file's content, writing create()'s result with mode
// 0600 first when the file does not exist. Concurrent creators agree on
// one content: the file is created exclusively.
func readOrCreate(path string, create func() ([]byte, error)) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return b, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	content, err := create()
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(content); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return content, nil
}

// parsePublicKey reads an RSA public key from PEM (PKIX "PUBLIC KEY" or
// PKCS #1 "RSA PUBLIC KEY") or from the bare base64 DER the Alipay console
// shows.
func parsePublicKey(s string) (*rsa.PublicKey, error) {
	der, pemType, err := decodeKey(s)
	if err != nil {
		return nil, err
	}
	if pemType == "RSA PUBLIC KEY" {
		return x509.ParsePKCS1PublicKey(der)
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		if k1, err1 := x509.ParsePKCS1PublicKey(der); err1 == nil {
			return k1, nil
		}
		return nil, err
	}
	pub, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("not an RSA key")
	}
	return pub, nil
}

// parsePrivateKey reads an RSA private key, PKCS #1 or PKCS #8, PEM or
// bare base64.
func parsePrivateKey(s string) (*rsa.PrivateKey, error) {
	der, _, err := decodeKey(s)
	if err != nil {
		return nil, err
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, errors.New("neither PKCS #1 nor PKCS #8")
	}
	priv, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an RSA key")
	}
	return priv, nil
}

func decodeKey(s string) (der []byte, pemType string, err error) {
	b := bytes.TrimSpace([]byte(s))
	if len(b) == 0 {
		return nil, "", errors.New("empty")
	}
	if bytes.HasPrefix(b, []byte("-----")) {
		block, _ := pem.Decode(b)
		if block == nil {
			return nil, "", errors.New("bad PEM")
		}
		return block.Bytes, block.Type, nil
	}
	der, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(b)), ""))
	if err != nil {
		return nil, "", errors.New("neither PEM nor base64")
	}
	return der, "", nil
}
