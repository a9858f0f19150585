package sms

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/shiming-id/shiming/plugins/sdk"
)

// Version is the provider's version, reported by Info.
const Version = "1.0.0"

// Defaults of the optional configuration fields.
const (
	DefaultAPIBase      = "https://dysmsapi.aliyuncs.com/"
	DefaultTemplateCode = "SMS_SHIMING_CODE"
	DefaultHTTPTimeout  = 10 * time.Second
	DefaultCodeTTL      = 5 * time.Minute
)

// Provider is the SMS provider. The zero value is not usable: call New.
type Provider struct {
	log *slog.Logger
	now func() time.Time
	// st is nil until Configure succeeds; a new configuration replaces it
	// whole.
	st atomic.Pointer[state]
}

type state struct {
	cfg     config
	log     *slog.Logger
	now     func() time.Time
	client  *http.Client
	tickets *ticketSealer
}

// Option changes how New builds a Provider.
type Option func(*Provider)

// WithLogger sets the logger (default sdk.Logger()).
func WithLogger(l *slog.Logger) Option {
	return func(p *Provider) {
		if l != nil {
			p.log = l
		}
	}
}

// WithClock sets the clock (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(p *Provider) {
		if now != nil {
			p.now = now
		}
	}
}

// New returns an unconfigured provider.
func New(opts ...Option) *Provider {
	p := &Provider{now: time.Now}
	for _, o := range opts {
		o(p)
	}
	if p.log == nil {
		p.log = sdk.Logger()
	}
	return p
}

// Info names the provider and declares the phone capability.
func (p *Provider) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{
		Name:            "sms",
		Version:         Version,
		ProtocolVersion: sdk.ProtocolVersion,
		Capabilities:    []sdk.Capability{sdk.CapabilityPhone},
		Description:     "短信验证码（阿里云短信服务 dysmsapi SendSms）",
	}, nil
}

// Configure validates the configuration (see the package documentation)
// and reports every bad field at once. It does not call the vendor.
func (p *Provider) Configure(_ context.Context, raw json.RawMessage) error {
	cfg, err := parseConfig(raw)
	if err != nil {
		return err
	}
	ts, err := newTicketSealer(cfg.handleKey, cfg.accessKeyID)
	if err != nil {
		return err
	}
	old := p.st.Swap(&state{cfg: cfg, log: p.log, now: p.now, client: newHTTPClient(cfg.httpTimeout), tickets: ts})
	if old != nil {
		old.client.CloseIdleConnections()
	}
	p.log.Info("sms configured", "access_key_id", cfg.accessKeyID, "template_code", cfg.templateCode, "api_base", cfg.apiBase)
	return nil
}

func (p *Provider) state() (*state, error) {
	st := p.st.Load()
	if st == nil {
		return nil, sdk.E(sdk.InvalidConfig, "sms: not configured")
	}
	return st, nil
}

func newHTTPClient(timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &http.Client{
		Timeout:       timeout,
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// config is a validated configuration.
type config struct {
	accessKeyID     string
	accessKeySecret string
	signName        string
	templateCode    string
	apiBase         string
	handleKey       []byte
	httpTimeout     time.Duration
	codeTTL         time.Duration
}

var (
	accessKeyIDRE  = regexp.MustCompile(`^[A-Za-z0-9]{1,64}$`)
	secretRE       = regexp.MustCompile(`^[\x21-\x7e]{1,128}$`)
	templateCodeRE = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)
)

var knownFields = map[string]bool{
	"access_key_id": true, "access_key_secret": true, "sign_name": true, "template_code": true,
	"api_base": true, "handle_key": true, "http_timeout": true, "code_ttl": true,
}

// parseConfig validates a configuration and names every bad field.
func parseConfig(raw json.RawMessage) (config, error) {
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&fields); err != nil || fields == nil || dec.More() {
		return config{}, sdk.Fields(sdk.InvalidConfig, "sms: configuration must be a JSON object", "config")
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
	if c.accessKeyID = str("access_key_id"); !accessKeyIDRE.MatchString(c.accessKeyID) {
		bad = append(bad, "access_key_id")
	}
	if c.accessKeySecret = str("access_key_secret"); !secretRE.MatchString(c.accessKeySecret) {
		bad = append(bad, "access_key_secret")
	}
	if c.signName = str("sign_name"); !validSignName(c.signName) {
		bad = append(bad, "sign_name")
	}
	if c.templateCode = str("template_code"); c.templateCode == "" {
		c.templateCode = DefaultTemplateCode
	} else if !templateCodeRE.MatchString(c.templateCode) {
		bad = append(bad, "template_code")
	}
	c.apiBase = strings.TrimSuffix(DefaultAPIBase, "/")
	if s := str("api_base"); s != "" {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			bad = append(bad, "api_base")
		}
		c.apiBase = strings.TrimSuffix(s, "/")
	}
	if c.handleKey = decodeKey(str("handle_key")); c.handleKey == nil {
		bad = append(bad, "handle_key")
	}
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
	c.codeTTL = dur("code_ttl", DefaultCodeTTL, time.Minute, time.Hour)
	if len(bad) > 0 {
		slices.Sort(bad)
		return config{}, sdk.Fields(sdk.InvalidConfig, "sms: invalid configuration", slices.Compact(bad)...)
	}
	return c, nil
}

// validSignName accepts a signature name (签名) of 1 to 32 printable
// characters.
func validSignName(s string) bool {
	if s == "" || utf8.RuneCountInString(s) > 32 {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// decodeKey reads a 32-byte key in standard or URL-safe base64, padded
// or not; nil if it is none.
func decodeKey(s string) []byte {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == 32 {
			return k
		}
	}
	return nil
}

var (
	_ sdk.Provider      = (*Provider)(nil)
	_ sdk.PhoneVerifier = (*Provider)(nil)
)
