package wechat

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk"
)

// Defaults of the optional configuration fields.
const (
	DefaultAPIBase     = "https://api.weixin.qq.com"
	DefaultOpenBase    = "https://open.weixin.qq.com"
	DefaultLPBase      = "https://lp.open.weixin.qq.com"
	DefaultHTTPTimeout = 10 * time.Second
	DefaultQRTTL       = 5 * time.Minute
)

// config is a validated configuration.
type config struct {
	appID, appSecret     string
	mpAppID, mpAppSecret string
	apiBase              string
	openBase             string
	lpBase               string
	facePageURL          *url.URL
	handleKey            []byte
	httpTimeout          time.Duration
	qrTTL                time.Duration
}

// faceAppID is the app that runs face verification: the mini-program when
// one is configured, else the website app.
func (c config) faceAppID() string {
	if c.mpAppID != "" {
		return c.mpAppID
	}
	return c.appID
}

func (c config) faceAppSecret() string {
	if c.mpAppID != "" {
		return c.mpAppSecret
	}
	return c.appSecret
}

var (
	appIDRE     = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	appSecretRE = regexp.MustCompile(`^[\x21-\x7e]{1,128}$`)
)

// knownFields lists every configuration field, so that a typo is
// reported instead of silently ignored.
var knownFields = map[string]bool{
	"app_id": true, "app_secret": true, "mp_app_id": true, "mp_app_secret": true,
	"api_base": true, "open_base": true, "lp_base": true, "face_page_url": true,
	"handle_key": true, "http_timeout": true, "qr_ttl": true,
}

// parseConfig validates a configuration and names every bad field.
func parseConfig(raw json.RawMessage) (config, error) {
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&fields); err != nil || fields == nil || dec.More() {
		return config{}, sdk.Fields(sdk.InvalidConfig, "wechat: configuration must be a JSON object", "config")
	}
	var bad []string
	for k := range fields {
		if !knownFields[k] {
			bad = append(bad, k)
		}
	}
	str := func(name string) string {
		v, ok := fields[name]
		if !ok || string(v) == "null" {
			return ""
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			bad = append(bad, name)
			return ""
		}
		return strings.TrimSpace(s)
	}
	var c config
	if c.appID = str("app_id"); !appIDRE.MatchString(c.appID) {
		bad = append(bad, "app_id")
	}
	if c.appSecret = str("app_secret"); !appSecretRE.MatchString(c.appSecret) {
		bad = append(bad, "app_secret")
	}
	c.mpAppID, c.mpAppSecret = str("mp_app_id"), str("mp_app_secret")
	if c.mpAppID != "" || c.mpAppSecret != "" {
		if !appIDRE.MatchString(c.mpAppID) {
			bad = append(bad, "mp_app_id")
		}
		if !appSecretRE.MatchString(c.mpAppSecret) {
			bad = append(bad, "mp_app_secret")
		}
	}
	base := func(name, def string) string {
		s := str(name)
		if s == "" {
			return def
		}
		b, ok := baseURL(s)
		if !ok {
			bad = append(bad, name)
		}
		return b
	}
	c.apiBase = base("api_base", DefaultAPIBase)
	c.openBase = base("open_base", DefaultOpenBase)
	c.lpBase = base("lp_base", DefaultLPBase)
	if s := str("face_page_url"); s != "" {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" || u.User != nil {
			bad = append(bad, "face_page_url")
		} else {
			c.facePageURL = u
		}
	}
	key, ok := decodeKey(str("handle_key"))
	if !ok {
		bad = append(bad, "handle_key")
	}
	c.handleKey = key
	dur := func(name string, def, lo, hi time.Duration) time.Duration {
		s := str(name)
		if s == "" {
			return def
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < lo || d > hi {
			bad = append(bad, name)
			return def
		}
		return d
	}
	c.httpTimeout = dur("http_timeout", DefaultHTTPTimeout, 100*time.Millisecond, 2*time.Minute)
	c.qrTTL = dur("qr_ttl", DefaultQRTTL, time.Minute, 30*time.Minute)
	if len(bad) > 0 {
		slices.Sort(bad)
		bad = slices.Compact(bad)
		return config{}, sdk.Fields(sdk.InvalidConfig, "wechat: invalid configuration", bad...)
	}
	return c, nil
}

// baseURL checks an absolute http(s) URL without query or fragment and
// returns it without a trailing slash.
func baseURL(s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", false
	}
	return strings.TrimSuffix(s, "/"), true
}

// decodeKey reads a 32-byte key in standard or URL-safe base64, padded
// or not.
func decodeKey(s string) ([]byte, bool) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == 32 {
			return k, true
		}
	}
	return nil, false
}
