package ctid

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk"
)

// Defaults and bounds of the configuration.
const (
	DefaultHTTPTimeout = 10 * time.Second
	maxHTTPTimeout     = 2 * time.Minute
	maxOrgCode         = 64
)

// config is the validated configuration.
type config struct {
	orgCode     string
	orgKey      *rsa.PrivateKey
	platformKey *rsa.PublicKey
	baseURL     string
	handleKey   []byte
	httpTimeout time.Duration
	insecure    bool
}

var configFields = []string{"org_code", "org_private_key", "platform_public_key", "base_url", "handle_key", "http_timeout"}

// parseConfig validates raw and reports every bad field at once.
func parseConfig(raw json.RawMessage) (*config, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, sdk.Fields(sdk.InvalidConfig, "ctid: configuration must be a JSON object", "config")
	}
	var bad, problems []string
	fail := func(field, problem string) {
		if slices.Contains(bad, field) {
			return // one problem per field: the first
		}
		bad = append(bad, field)
		problems = append(problems, field+" "+problem)
	}
	var unknown []string
	for k := range m {
		if !slices.Contains(configFields, k) {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		fail(k, "is not a known field")
	}
	str := func(field string) string {
		v, ok := m[field]
		if !ok || string(v) == "null" {
			return ""
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			fail(field, "must be a string")
			return ""
		}
		return strings.TrimSpace(s)
	}

	c := &config{}
	c.orgCode = str("org_code")
	if c.orgCode == "" {
		fail("org_code", "is required")
	} else if len(c.orgCode) > maxOrgCode || !printable(c.orgCode) {
		fail("org_code", "must be up to 64 printable ASCII characters")
	}
	if s := str("org_private_key"); s == "" {
		fail("org_private_key", "is required")
	} else if k, err := parsePrivateKey(s); err != nil {
		fail("org_private_key", err.Error())
	} else {
		c.orgKey = k
	}
	if s := str("platform_public_key"); s == "" {
		fail("platform_public_key", "is required")
	} else if k, err := parsePublicKey(s); err != nil {
		fail("platform_public_key", err.Error())
	} else {
		c.platformKey = k
	}
	c.baseURL = strings.TrimSuffix(str("base_url"), "/")
	if c.baseURL == "" {
		fail("base_url", "is required (CTID resellers differ; there is no default)")
	} else if u, err := url.Parse(c.baseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		fail("base_url", "must be an absolute http(s) URL without query or fragment")
	} else {
		c.insecure = u.Scheme == "http" && !loopback(u.Hostname())
	}
	if s := str("handle_key"); s == "" {
		fail("handle_key", "is required")
	} else if k, err := decodeKey(s); err != nil {
		fail("handle_key", err.Error())
	} else {
		c.handleKey = k
	}
	c.httpTimeout = DefaultHTTPTimeout
	if s := str("http_timeout"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 || d > maxHTTPTimeout {
			fail("http_timeout", "must be a Go duration between 1ms and 2m")
		} else {
			c.httpTimeout = d
		}
	}
	if len(bad) > 0 {
		return nil, sdk.Fields(sdk.InvalidConfig, "ctid: "+strings.Join(problems, "; "), bad...)
	}
	return c, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// decodeKey reads a base64 (standard or URL alphabet, padded or not)
// 32-byte key.
func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != 32 {
				return nil, errors.New("must decode to 32 bytes")
			}
			return b, nil
		}
	}
	return nil, errors.New("must be base64")
}

func onePEM(s string) (*pem.Block, error) {
	block, rest := pem.Decode([]byte(s))
	if block == nil {
		return nil, errors.New("must be PEM")
	}
	if strings.TrimSpace(string(rest)) != "" {
		return nil, errors.New("must hold one PEM block")
	}
	return block, nil
}

// parsePrivateKey reads an RSA private key (PKCS #1 or PKCS #8) of at
// least 2048 bits.
func parsePrivateKey(s string) (*rsa.PrivateKey, error) {
	block, err := onePEM(s)
	if err != nil {
		return nil, err
	}
	var key *rsa.PrivateKey
	if block.Type == "RSA PRIVATE KEY" {
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	} else {
		var k any
		if k, err = x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
			var ok bool
			if key, ok = k.(*rsa.PrivateKey); !ok {
				return nil, errors.New("is not an RSA key")
			}
		}
	}
	if err != nil || key == nil {
		return nil, errors.New("is not a PKCS #1 or PKCS #8 RSA private key")
	}
	if key.N.BitLen() < 2048 {
		return nil, errors.New("must be at least 2048 bits")
	}
	return key, nil
}

// parsePublicKey reads an RSA public key (PKIX or PKCS #1) of at least
// 2048 bits.
func parsePublicKey(s string) (*rsa.PublicKey, error) {
	block, err := onePEM(s)
	if err != nil {
		return nil, err
	}
	var pub *rsa.PublicKey
	if block.Type == "RSA PUBLIC KEY" {
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	} else {
		var k any
		if k, err = x509.ParsePKIXPublicKey(block.Bytes); err == nil {
			var ok bool
			if pub, ok = k.(*rsa.PublicKey); !ok {
				return nil, errors.New("is not an RSA key")
			}
		}
	}
	if err != nil || pub == nil {
		return nil, errors.New("is not a PKIX or PKCS #1 RSA public key")
	}
	if pub.N.BitLen() < 2048 {
		return nil, errors.New("must be at least 2048 bits")
	}
	return pub, nil
}

// printable reports whether s is non-empty printable ASCII without spaces.
func printable(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
