package sms

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/pluginconfig"
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

// Info names the provider and declares the phone and phone_notice
// capabilities.
func (p *Provider) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{
		Name:            "sms",
		Version:         Version,
		ProtocolVersion: sdk.ProtocolVersion,
		Capabilities:    []sdk.Capability{sdk.CapabilityPhone, sdk.CapabilityPhoneNotice},
		Description:     "短信验证码与通知（阿里云短信服务 dysmsapi SendSms）",
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
	p.log.Info("sms configured", "access_key_id", cfg.accessKeyID, "template_code", cfg.templateCode,
		"notice_templates", cfg.noticeTemplates, "api_base", cfg.apiBase)
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
	// noticeTemplates maps each notice kind to its template.
	noticeTemplates map[string]string
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

// configFields lists every configuration field, so that a typo is
// reported instead of silently ignored.
var configFields = []string{
	"access_key_id", "access_key_secret", "sign_name", "template_code", "notice_templates",
	"api_base", "handle_key", "http_timeout", "code_ttl",
}

// parseConfig validates a configuration and names every bad field, in
// sorted order.
func parseConfig(raw json.RawMessage) (config, error) {
	r, err := pluginconfig.New("sms", raw, configFields...)
	if err != nil {
		return config{}, err
	}
	var c config
	if c.accessKeyID = r.String("access_key_id", ""); !accessKeyIDRE.MatchString(c.accessKeyID) {
		r.Problem("access_key_id", "must be 1 to 64 letters and digits")
	}
	if c.accessKeySecret = r.String("access_key_secret", ""); !secretRE.MatchString(c.accessKeySecret) {
		r.Problem("access_key_secret", "must be 1 to 128 printable ASCII characters")
	}
	if c.signName = r.String("sign_name", ""); !validSignName(c.signName) {
		r.Problem("sign_name", "must be 1 to 32 printable characters")
	}
	if c.templateCode = r.String("template_code", DefaultTemplateCode); !templateCodeRE.MatchString(c.templateCode) {
		r.Problem("template_code", "must be 1 to 64 letters, digits or _")
	}
	c.noticeTemplates = noticeTemplates(r, raw)
	c.apiBase = r.BaseURL("api_base", DefaultAPIBase)
	c.handleKey = r.Key32("handle_key")
	c.httpTimeout = r.Duration("http_timeout", DefaultHTTPTimeout, 100*time.Millisecond, 2*time.Minute)
	c.codeTTL = r.Duration("code_ttl", DefaultCodeTTL, time.Minute, time.Hour)
	if bad := r.Fields(); len(bad) > 0 {
		slices.Sort(bad)
		return config{}, sdk.Fields(sdk.InvalidConfig, "sms: invalid configuration", bad...)
	}
	return c, nil
}

// noticeTemplates reads notice_templates, a JSON object of notice kinds
// and template codes, over the defaults. pluginconfig has no reader for
// objects, so the field is read from raw, which r accepted as an object.
func noticeTemplates(r *pluginconfig.Reader, raw json.RawMessage) map[string]string {
	out := defaultNoticeTemplates()
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return out
	}
	v, ok := fields["notice_templates"]
	if !ok || string(v) == "null" {
		return out
	}
	var given map[string]string
	if json.Unmarshal(v, &given) != nil {
		r.Problem("notice_templates", "must be an object of notice kinds and template codes")
		return out
	}
	for kind, code := range given {
		code = strings.TrimSpace(code)
		switch {
		case noticeParams[kind] == nil:
			r.Problem("notice_templates", fmt.Sprintf("names %q, not a notice kind (%s)", kind, strings.Join(noticeKinds(), ", ")))
		case code == "":
			// not given: the default stays
		case !templateCodeRE.MatchString(code):
			r.Problem("notice_templates", "must map each kind to 1 to 64 letters, digits or _")
		default:
			out[kind] = code
		}
	}
	return out
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

var (
	_ sdk.Provider      = (*Provider)(nil)
	_ sdk.PhoneVerifier = (*Provider)(nil)
	_ sdk.PhoneNotifier = (*Provider)(nil)
)
