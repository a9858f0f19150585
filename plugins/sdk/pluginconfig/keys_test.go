package pluginconfig_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/shiming-id/shiming/plugins/sdk/pluginconfig"
)

// testKeys are the encodings of one RSA key pair (1024 bits: quick to
// make; the tests raise MinBits above it to see it refused) and of an EC
// key.
type testKeys struct {
	rsa                                  *rsa.PrivateKey
	pkcs1, pkcs8, bare1, bare8           string
	pkix, pkcs1Pub, barePKIX, bare1Pub   string
	ecPKCS8, ecPKIX, ecSEC1, certificate string
}

func newTestKeys(t testing.TB) testKeys {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	enc := func(typ string, der []byte) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
	}
	// bare writes base64 in lines, as a console copies it.
	bare := func(der []byte) string {
		s := base64.StdEncoding.EncodeToString(der)
		var lines []string
		for len(s) > 64 {
			lines, s = append(lines, s[:64]), s[64:]
		}
		return strings.Join(append(lines, s), "\n")
	}
	p1 := x509.MarshalPKCS1PrivateKey(k)
	p8, _ := x509.MarshalPKCS8PrivateKey(k)
	pkix, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	p1pub := x509.MarshalPKCS1PublicKey(&k.PublicKey)
	ec8, _ := x509.MarshalPKCS8PrivateKey(ec)
	ecPub, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	ec1, _ := x509.MarshalECPrivateKey(ec)
	return testKeys{
		rsa: k, pkcs1: enc("RSA PRIVATE KEY", p1), pkcs8: enc("PRIVATE KEY", p8), bare1: bare(p1), bare8: bare(p8),
		pkix: enc("PUBLIC KEY", pkix), pkcs1Pub: enc("RSA PUBLIC KEY", p1pub), barePKIX: bare(pkix), bare1Pub: bare(p1pub),
		ecPKCS8: enc("PRIVATE KEY", ec8), ecPKIX: enc("PUBLIC KEY", ecPub), ecSEC1: enc("EC PRIVATE KEY", ec1),
		certificate: enc("CERTIFICATE", []byte{0x30, 0x03, 0x02, 0x01, 0x01}),
	}
}

func TestRSAKeys(t *testing.T) {
	k := newTestKeys(t)
	pemOnly := pluginconfig.KeyOptions{MinBits: 1024}
	bare := pluginconfig.KeyOptions{MinBits: 1024, BareBase64: true}
	big := pluginconfig.KeyOptions{MinBits: 2048}
	cases := []struct {
		name    string
		public  bool
		value   string
		o       pluginconfig.KeyOptions
		problem string
	}{
		{"PKCS #1 private", false, k.pkcs1, pemOnly, ""},
		{"PKCS #8 private", false, k.pkcs8, pemOnly, ""},
		{"PKCS #8 private with text around", false, "\n  " + k.pkcs8 + "\n", pemOnly, ""},
		{"bare PKCS #1 private", false, k.bare1, bare, ""},
		{"bare PKCS #8 private", false, k.bare8, bare, ""},
		{"bare private refused", false, k.bare8, pemOnly, "must be PEM"},
		{"neither PEM nor base64", false, "not a key", bare, "is neither PEM nor base64"},
		{"two blocks", false, k.pkcs1 + k.pkcs1, pemOnly, "must hold one PEM block"},
		{"PKCS #8 labelled PKCS #1", false, strings.ReplaceAll(k.pkcs8, "PRIVATE KEY", "RSA PRIVATE KEY"), pemOnly, "is not a PKCS #1 or PKCS #8 RSA private key"},
		{"a public key", false, k.pkix, pemOnly, "is not a PKCS #1 or PKCS #8 RSA private key"},
		{"an EC key", false, k.ecPKCS8, pemOnly, "is not an RSA key"},
		{"an EC key in SEC 1", false, k.ecSEC1, pemOnly, "is not a PKCS #1 or PKCS #8 RSA private key"},
		{"too small", false, k.pkcs8, big, "must be at least 2048 bits"},
		{"no size bound", false, k.pkcs1, pluginconfig.KeyOptions{}, ""},
		{"required", false, "", pemOnly, "is required"},

		{"PKIX public", true, k.pkix, pemOnly, ""},
		{"PKCS #1 public", true, k.pkcs1Pub, pemOnly, ""},
		{"bare PKIX public", true, k.barePKIX, bare, ""},
		{"bare PKCS #1 public", true, k.bare1Pub, bare, ""},
		{"bare public refused", true, k.barePKIX, pemOnly, "must be PEM"},
		{"PKIX labelled PKCS #1", true, strings.ReplaceAll(k.pkix, "PUBLIC KEY", "RSA PUBLIC KEY"), pemOnly, "is not a PKCS #1 RSA public key"},
		{"a private key", true, k.pkcs8, pemOnly, "is not a PKIX or PKCS #1 RSA public key"},
		{"a certificate", true, k.certificate, pemOnly, "is not a PKIX or PKCS #1 RSA public key"},
		{"an EC public key", true, k.ecPKIX, pemOnly, "is not an RSA key"},
		{"too small public", true, k.pkix, big, "must be at least 2048 bits"},
		{"two public blocks", true, k.pkix + k.pkcs1Pub, pemOnly, "must hold one PEM block"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw, _ := json.Marshal(map[string]string{"key": tc.value})
			r := read(t, string(raw))
			var ok bool
			if tc.public {
				pub := r.RSAPublicKey("key", tc.o)
				ok = pub != nil && pub.Equal(&k.rsa.PublicKey)
			} else {
				priv := r.RSAPrivateKey("key", tc.o)
				ok = priv != nil && priv.Equal(k.rsa)
			}
			if tc.problem != "" {
				wantErr(t, r, "acme: key "+tc.problem, "key")
				if ok {
					t.Error("a key with a problem was returned")
				}
				if strings.Contains(r.Err().Error(), "MII") {
					t.Error("the error quotes key material")
				}
				return
			}
			wantErr(t, r, "")
			if !ok {
				t.Error("the key read is not the key written")
			}
		})
	}
}

func TestParseRSAKeys(t *testing.T) {
	k := newTestKeys(t)
	if priv, err := pluginconfig.ParseRSAPrivateKey(k.pkcs8, pluginconfig.KeyOptions{}); err != nil || !priv.Equal(k.rsa) {
		t.Errorf("ParseRSAPrivateKey = %v", err)
	}
	if pub, err := pluginconfig.ParseRSAPublicKey(k.pkcs1Pub, pluginconfig.KeyOptions{}); err != nil || !pub.Equal(&k.rsa.PublicKey) {
		t.Errorf("ParseRSAPublicKey = %v", err)
	}
	if _, err := pluginconfig.ParseRSAPrivateKey(k.pkcs8, pluginconfig.KeyOptions{MinBits: 2048}); err == nil ||
		err.Error() != "pluginconfig: the RSA private key must be at least 2048 bits" {
		t.Errorf("ParseRSAPrivateKey of a small key = %v", err)
	}
	if _, err := pluginconfig.ParseRSAPublicKey("nope", pluginconfig.KeyOptions{}); err == nil ||
		err.Error() != "pluginconfig: the RSA public key must be PEM" {
		t.Errorf("ParseRSAPublicKey(nope) = %v", err)
	}
}
