package wechat

import (
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/pluginconfig"
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

// configFields lists every configuration field, so that a typo is
// reported instead of silently ignored.
var configFields = []string{
	"app_id", "app_secret", "mp_app_id", "mp_app_secret",
	"api_base", "open_base", "lp_base", "face_page_url",
	"handle_key", "http_timeout", "qr_ttl",
}

// parseConfig validates a configuration and names every bad field, in
// sorted order.
func parseConfig(raw json.RawMessage) (config, error) {
	r, err := pluginconfig.New("wechat", raw, configFields...)
	if err != nil {
		return config{}, err
	}
	const badID, badSecret = "must be 1 to 64 letters, digits, _ or -", "must be 1 to 128 printable ASCII characters"
	var c config
	if c.appID = r.String("app_id", ""); !appIDRE.MatchString(c.appID) {
		r.Problem("app_id", badID)
	}
	if c.appSecret = r.String("app_secret", ""); !appSecretRE.MatchString(c.appSecret) {
		r.Problem("app_secret", badSecret)
	}
	c.mpAppID, c.mpAppSecret = r.String("mp_app_id", ""), r.String("mp_app_secret", "")
	if c.mpAppID != "" || c.mpAppSecret != "" {
		if !appIDRE.MatchString(c.mpAppID) {
			r.Problem("mp_app_id", badID)
		}
		if !appSecretRE.MatchString(c.mpAppSecret) {
			r.Problem("mp_app_secret", badSecret)
		}
	}
	c.apiBase = r.BaseURL("api_base", DefaultAPIBase)
	c.openBase = r.BaseURL("open_base", DefaultOpenBase)
	c.lpBase = r.BaseURL("lp_base", DefaultLPBase)
	if s := r.String("face_page_url", ""); s != "" {
		// The page is the gateway's: a query of its own is allowed.
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" || u.User != nil {
			r.Problem("face_page_url", "must be an absolute http(s) URL without fragment")
		} else {
			c.facePageURL = u
		}
	}
	c.handleKey = r.Key32("handle_key")
	c.httpTimeout = r.Duration("http_timeout", DefaultHTTPTimeout, 100*time.Millisecond, 2*time.Minute)
	c.qrTTL = r.Duration("qr_ttl", DefaultQRTTL, time.Minute, 30*time.Minute)
	if bad := r.Fields(); len(bad) > 0 {
		slices.Sort(bad)
		return config{}, sdk.Fields(sdk.InvalidConfig, "wechat: invalid configuration", bad...)
	}
	return c, nil
}
