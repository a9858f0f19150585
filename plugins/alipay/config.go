package alipay

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

// Defaults of the optional configuration fields.
const (
	DefaultGatewayURL   = "https://openapi.alipay.com/gateway.do"
	DefaultOpenAuthBase = "https://openauth.alipay.com"
	DefaultHTTPTimeout  = 10 * time.Second
	maxHTTPTimeout      = 2 * time.Minute
)

// config is the validated configuration.
type config struct {
	appID        string
	appKey       *rsa.PrivateKey
	alipayKey    *rsa.PublicKey
	handleKey    []byte
	gatewayURL   string
	openAuthBase string
	httpTimeout  time.Duration
	// insecure lists the URL fields that use plain http on a host other
	// than loopback, for a warning.
	insecure []string
}

var configFields = []string{
	"app_id", "app_private_key", "alipay_public_key", "handle_key",
	"gateway_url", "openauth_base", "http_timeout",
}

// parseConfig validates raw and reports every bad field at once.
func parseConfig(raw json.RawMessage) (*config, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, sdk.Fields(sdk.InvalidConfig, "alipay: configuration must be a JSON object", "config")
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
	c.appID = str("app_id")
	if c.appID == "" {
		fail("app_id", "is required")
	} else if !digits(c.appID, 32) {
		fail("app_id", "must be up to 32 digits")
	}

	if s := str("app_private_key"); s == "" {
		fail("app_private_key", "is required")
	} else if k, err := parsePrivateKey(s); err != nil {
		fail("app_private_key", err.Error())
	} else {
		c.appKey = k
	}
	if s := str("alipay_public_key"); s == "" {
		fail("alipay_public_key", "is required")
	} else if k, err := parsePublicKey(s); err != nil {
		fail("alipay_public_key", err.Error())
	} else {
		c.alipayKey = k
	}

	if s := str("handle_key"); s == "" {
		fail("handle_key", "is required")
	} else if k, err := decodeKey(s); err != nil {
		fail("handle_key", err.Error())
	} else {
		c.handleKey = k
	}

	c.gatewayURL = orDefault(str("gateway_url"), DefaultGatewayURL)
	if ok, insecure := webURL(c.gatewayURL, false); !ok {
		fail("gateway_url", "must be an absolute http(s) URL without query or fragment")
	} else if insecure {
		c.insecure = append(c.insecure, "gateway_url")
	}
	c.openAuthBase = strings.TrimSuffix(orDefault(str("openauth_base"), DefaultOpenAuthBase), "/")
	if ok, insecure := webURL(c.openAuthBase, false); !ok {
		fail("openauth_base", "must be an absolute http(s) URL without query or fragment")
	} else if insecure {
		c.insecure = append(c.insecure, "openauth_base")
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
		return nil, sdk.Fields(sdk.InvalidConfig, "alipay: "+strings.Join(problems, "; "), bad...)
	}
	return c, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func digits(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// webURL reports whether s is an absolute http(s) URL without query or
// fragment (query allowed when withQuery), and whether it is plain http
// on a host other than loopback.
func webURL(s string, withQuery bool) (ok, insecure bool) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return false, false
	}
	if !withQuery && (u.RawQuery != "" || u.ForceQuery) {
		return false, false
	}
	return true, u.Scheme == "http" && !loopback(u.Hostname())
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

// keyDER returns the DER bytes of a PEM block, or of bare base64 as the
// Alipay console shows keys.
func keyDER(s string) (typ string, der []byte, err error) {
	if block, rest := pem.Decode([]byte(s)); block != nil {
		if strings.TrimSpace(string(rest)) != "" {
			return "", nil, errors.New("must hold one PEM block")
		}
		return block.Type, block.Bytes, nil
	}
	b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		return "", nil, errors.New("is neither PEM nor base64")
	}
	return "", b, nil
}

// parsePrivateKey reads an RSA private key (PKCS #1 or PKCS #8) of at
// least 2048 bits.
func parsePrivateKey(s string) (*rsa.PrivateKey, error) {
	typ, der, err := keyDER(s)
	if err != nil {
		return nil, err
	}
	var key *rsa.PrivateKey
	if typ == "RSA PRIVATE KEY" || typ == "" {
		key, _ = x509.ParsePKCS1PrivateKey(der)
	}
	if key == nil && typ != "RSA PRIVATE KEY" {
		if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
			var ok bool
			if key, ok = k.(*rsa.PrivateKey); !ok {
				return nil, errors.New("is not an RSA key")
			}
		}
	}
	if key == nil {
		return nil, errors.New("is not a PKCS #1 or PKCS #8 RSA private key")
	}
	if key.N.BitLen() < 2048 {
		return nil, errors.New("must be at least 2048 bits (RSA2)")
	}
	return key, nil
}

// parsePublicKey reads an RSA public key (PKIX or PKCS #1).
func parsePublicKey(s string) (*rsa.PublicKey, error) {
	typ, der, err := keyDER(s)
	if err != nil {
		return nil, err
	}
	if typ == "RSA PUBLIC KEY" {
		if k, err := x509.ParsePKCS1PublicKey(der); err == nil {
			return k, nil
		}
		return nil, errors.New("is not a PKCS #1 RSA public key")
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		if typ == "" {
			if k1, err1 := x509.ParsePKCS1PublicKey(der); err1 == nil {
				return k1, nil
			}
		}
		return nil, errors.New("is not a PKIX or PKCS #1 RSA public key")
	}
	pub, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("is not an RSA key")
	}
	return pub, nil
}
