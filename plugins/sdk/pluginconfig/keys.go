package pluginconfig

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// KeyOptions say which RSA keys a field accepts.
type KeyOptions struct {
	// MinBits is the smallest modulus accepted, e.g. 2048; 0 accepts any.
	MinBits int
	// BareBase64 also accepts the DER key in base64 without PEM armour,
	// as some vendor consoles (Alipay's) show keys.
	BareBase64 bool
}

// RSAPrivateKey returns the required field as an RSA private key: one PEM
// block, "RSA PRIVATE KEY" (PKCS #1) or "PRIVATE KEY" (PKCS #8), or with
// o.BareBase64 the DER of either in base64. Problems name the format
// expected, never the key material.
func (r *Reader) RSAPrivateKey(field string, o KeyOptions) *rsa.PrivateKey {
	return readKey(r, field, o, privateKey)
}

// RSAPublicKey returns the required field as an RSA public key: one PEM
// block, "PUBLIC KEY" (PKIX) or "RSA PUBLIC KEY" (PKCS #1), or with
// o.BareBase64 the DER of either in base64.
func (r *Reader) RSAPublicKey(field string, o KeyOptions) *rsa.PublicKey {
	return readKey(r, field, o, publicKey)
}

// ParseRSAPrivateKey reads an RSA private key as RSAPrivateKey does, for
// keys that do not come from the configuration.
func ParseRSAPrivateKey(text string, o KeyOptions) (*rsa.PrivateKey, error) {
	return parseKey(text, o, "private", privateKey)
}

// ParseRSAPublicKey reads an RSA public key as RSAPublicKey does.
func ParseRSAPublicKey(text string, o KeyOptions) (*rsa.PublicKey, error) {
	return parseKey(text, o, "public", publicKey)
}

// rsaKey is the key either kind of field gives.
type rsaKey interface {
	*rsa.PrivateKey | *rsa.PublicKey
}

// readKey reads a required key field with parse, which returns the key
// or what is wrong with the text.
func readKey[K rsaKey](r *Reader, field string, o KeyOptions, parse func(string, KeyOptions) (K, string)) K {
	var none K
	s := r.Required(field)
	if s == "" {
		return none
	}
	k, problem := parse(s, o)
	if problem != "" {
		r.Problem(field, problem)
		return none
	}
	return k
}

func parseKey[K rsaKey](text string, o KeyOptions, what string, parse func(string, KeyOptions) (K, string)) (K, error) {
	k, problem := parse(text, o)
	if problem != "" {
		var none K
		return none, errors.New("pluginconfig: the RSA " + what + " key " + problem)
	}
	return k, nil
}

// keyDER returns the DER bytes of one PEM block, or of bare base64 when
// the options allow it; typ is the PEM type, empty for bare base64.
func keyDER(s string, o KeyOptions) (typ string, der []byte, problem string) {
	if block, rest := pem.Decode([]byte(s)); block != nil {
		if strings.TrimSpace(string(rest)) != "" {
			return "", nil, "must hold one PEM block"
		}
		return block.Type, block.Bytes, ""
	}
	if !o.BareBase64 {
		return "", nil, "must be PEM"
	}
	b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		return "", nil, "is neither PEM nor base64"
	}
	return "", b, ""
}

func privateKey(s string, o KeyOptions) (*rsa.PrivateKey, string) {
	typ, der, problem := keyDER(s, o)
	if problem != "" {
		return nil, problem
	}
	var key *rsa.PrivateKey
	if typ == "RSA PRIVATE KEY" || typ == "" {
		key, _ = x509.ParsePKCS1PrivateKey(der)
	}
	if key == nil && typ != "RSA PRIVATE KEY" {
		if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
			var ok bool
			if key, ok = k.(*rsa.PrivateKey); !ok {
				return nil, "is not an RSA key"
			}
		}
	}
	if key == nil {
		return nil, "is not a PKCS #1 or PKCS #8 RSA private key"
	}
	if key.N.BitLen() < o.MinBits {
		return nil, fmt.Sprintf("must be at least %d bits", o.MinBits)
	}
	return key, ""
}

func publicKey(s string, o KeyOptions) (*rsa.PublicKey, string) {
	typ, der, problem := keyDER(s, o)
	if problem != "" {
		return nil, problem
	}
	var pub *rsa.PublicKey
	if typ == "RSA PUBLIC KEY" {
		k, err := x509.ParsePKCS1PublicKey(der)
		if err != nil {
			return nil, "is not a PKCS #1 RSA public key"
		}
		pub = k
	} else if k, err := x509.ParsePKIXPublicKey(der); err == nil {
		var ok bool
		if pub, ok = k.(*rsa.PublicKey); !ok {
			return nil, "is not an RSA key"
		}
	} else if typ == "" {
		pub, _ = x509.ParsePKCS1PublicKey(der)
	}
	if pub == nil {
		return nil, "is not a PKIX or PKCS #1 RSA public key"
	}
	if pub.N.BitLen() < o.MinBits {
		return nil, fmt.Sprintf("must be at least %d bits", o.MinBits)
	}
	return pub, ""
}
