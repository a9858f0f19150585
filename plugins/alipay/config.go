package alipay

import (
	"crypto/rsa"
	"encoding/json"
	"net/url"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk/pluginconfig"
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

// keyOptions read keys as the Alipay console shows them: PEM or bare
// base64.
var keyOptions = pluginconfig.KeyOptions{BareBase64: true}

// minAppKeyBits is RSA2's key size.
const minAppKeyBits = 2048

// parseConfig validates raw and reports every bad field at once.
func parseConfig(raw json.RawMessage) (*config, error) {
	r, err := pluginconfig.New("alipay", raw, configFields...)
	if err != nil {
		return nil, err
	}
	c := &config{appID: r.Required("app_id")}
	if c.appID != "" && !digits(c.appID, 32) {
		r.Problem("app_id", "must be up to 32 digits")
	}
	c.appKey = r.RSAPrivateKey("app_private_key", keyOptions)
	if c.appKey != nil && c.appKey.N.BitLen() < minAppKeyBits {
		r.Problem("app_private_key", "must be at least 2048 bits (RSA2)")
	}
	c.alipayKey = r.RSAPublicKey("alipay_public_key", keyOptions)
	c.handleKey = r.Key32("handle_key")
	c.gatewayURL = r.URL("gateway_url", DefaultGatewayURL)
	c.openAuthBase = r.BaseURL("openauth_base", DefaultOpenAuthBase)
	c.insecure = r.Insecure()
	c.httpTimeout = r.Duration("http_timeout", DefaultHTTPTimeout, time.Millisecond, maxHTTPTimeout)
	if err := r.Err(); err != nil {
		return nil, err
	}
	return c, nil
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

// absoluteURL reports whether s is an absolute http(s) URL without user
// information or fragment: a callback or return URL, query allowed.
func absoluteURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil && u.Fragment == ""
}
