package ctid

import (
	"crypto/rsa"
	"encoding/json"
	"strings"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk/pluginconfig"
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

// keyOptions read both keys: PEM, 2048 bits at least.
var keyOptions = pluginconfig.KeyOptions{MinBits: 2048}

// parseConfig validates raw and reports every bad field at once.
func parseConfig(raw json.RawMessage) (*config, error) {
	r, err := pluginconfig.New("ctid", raw, configFields...)
	if err != nil {
		return nil, err
	}
	c := &config{orgCode: r.Required("org_code")}
	if c.orgCode != "" && (len(c.orgCode) > maxOrgCode || !printable(c.orgCode)) {
		r.Problem("org_code", "must be up to 64 printable ASCII characters")
	}
	c.orgKey = r.RSAPrivateKey("org_private_key", keyOptions)
	c.platformKey = r.RSAPublicKey("platform_public_key", keyOptions)
	// No default: CTID resellers differ.
	if strings.TrimSuffix(r.String("base_url", ""), "/") == "" {
		r.Problem("base_url", "is required (CTID resellers differ; there is no default)")
	}
	c.baseURL = r.BaseURL("base_url", "")
	c.insecure = len(r.Insecure()) > 0
	c.handleKey = r.Key32("handle_key")
	c.httpTimeout = r.Duration("http_timeout", DefaultHTTPTimeout, time.Millisecond, maxHTTPTimeout)
	if err := r.Err(); err != nil {
		return nil, err
	}
	return c, nil
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
