package journeytest

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shiming-id/shiming/gateway/account"
	"github.com/shiming-id/shiming/gateway/audit"
	"github.com/shiming-id/shiming/gateway/config"
	"github.com/shiming-id/shiming/gateway/flow"
	"github.com/shiming-id/shiming/gateway/httpserver"
	"github.com/shiming-id/shiming/gateway/journey"
	"github.com/shiming-id/shiming/gateway/password"
	"github.com/shiming-id/shiming/gateway/pii"
	"github.com/shiming-id/shiming/gateway/ratelimit"
	"github.com/shiming-id/shiming/gateway/session"
	"github.com/shiming-id/shiming/gateway/store/sqlite"
	"github.com/shiming-id/shiming/gateway/store/sqlstore"
)

// Clock is a settable clock, safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// FastPassword is a cheap argon2id cost for tests.
var FastPassword = password.Params{MemoryKiB: 8 * 1024, Iterations: 1, Parallelism: 1}

// Options configure a Harness. Zero fields take the defaults of the
// embedded configuration (three portals, wechat/alipay/ctid, sms).
type Options struct {
	// Clock defaults to the current hour.
	Clock    *Clock
	Portals  []config.Portal
	RealName *config.RealName
	Limits   *config.Limits
	// OIDC returns the issuers, given the gateway's URL (for the redirect
	// URIs an IdP must know).
	OIDC       func(gatewayURL string) []config.Issuer
	HTTPClient *http.Client
	People     []Person
	// DemoPhoneURL is passed on to the journeys.
	DemoPhoneURL string
	Logger       *slog.Logger
}

// Harness is the journeys behind an httptest server.
type Harness struct {
	T         testing.TB
	Clock     *Clock
	Store     *sqlstore.Store
	Accounts  *account.Service
	Sessions  *session.Manager
	Flows     *flow.Engine
	Audit     *audit.Log
	Limiter   *ratelimit.Limiter
	Guard     *ratelimit.PasswordGuard
	Providers *Providers
	Registry  *prometheus.Registry
	Journeys  *journey.Journeys
	Router    *httpserver.Router
	Server    *httptest.Server
	Config    config.Config
	// URL is the gateway's base URL.
	URL string
}

// New starts the journeys over a fresh SQLite database in t.TempDir().
func New(t testing.TB, o Options) *Harness {
	t.Helper()
	ctx := context.Background()
	if o.Clock == nil {
		// On the hour, so that the fixed windows of the rate limits
		// (15 minutes, an hour) do not turn over during a test.
		o.Clock = NewClock(time.Now().Truncate(time.Hour))
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	cfg := config.Default()
	if o.Portals != nil {
		cfg.Portals = o.Portals
	}
	if o.RealName != nil {
		cfg.RealName = *o.RealName
	}
	if o.Limits != nil {
		cfg.Limits = *o.Limits
	}
	if len(o.People) == 0 {
		o.People = []Person{ZhangWei, LiNa, WangFang, LiuYang, LiuYan}
	}
	h := &Harness{T: t, Clock: o.Clock, Config: cfg, Registry: prometheus.NewRegistry()}
	st, err := sqlite.Open(ctx, t.TempDir()+"/db", sqlite.Options{Now: o.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h.Store = st
	keys, err := pii.New(bytes.Repeat([]byte{7}, pii.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	if h.Accounts, err = account.NewService(st, keys, FastPassword, o.Clock.Now); err != nil {
		t.Fatal(err)
	}
	if h.Sessions, err = session.New(st, keys, session.Options{Now: o.Clock.Now, Logger: o.Logger}); err != nil {
		t.Fatal(err)
	}
	h.Flows = flow.NewEngine(st, keys, o.Clock.Now)
	h.Audit = audit.New(st, o.Clock.Now, o.Logger)
	if h.Limiter, err = ratelimit.New(ratelimit.Options{Counters: st, KV: st, Now: o.Clock.Now, Registerer: h.Registry,
		Key: func(k string) string { return keys.Lookup("ratelimit", k) }, Names: journey.RateLimitNames()}); err != nil {
		t.Fatal(err)
	}
	h.Guard = ratelimit.NewPasswordGuard(h.Limiter, ratelimit.PasswordPolicy{
		PerAccountPerHour: int64(cfg.Limits.PasswordPerAccountPerHour), PerIPPerHour: int64(cfg.Limits.PasswordPerIPPerHour),
		LockoutAfter: int64(cfg.Limits.LockoutAfter), LockoutFor: cfg.Limits.LockoutFor.D(),
	})
	h.Providers = NewProviders(o.Clock.Now, o.People...)

	h.Server = httptest.NewUnstartedServer(nil)
	h.URL = "http://" + h.Server.Listener.Addr().String()
	var issuers []config.Issuer
	if o.OIDC != nil {
		issuers = o.OIDC(h.URL)
	}
	client := o.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	h.Journeys, err = journey.New(journey.Deps{
		Logger: o.Logger, Now: o.Clock.Now, Portals: cfg.Portals, RealName: cfg.RealName, Limits: cfg.Limits, OIDC: issuers,
		PublicURL: h.URL, Sessions: h.Sessions, Flows: h.Flows, KV: st, Accounts: h.Accounts, Limiter: h.Limiter,
		PasswordGuard: h.Guard, Audit: h.Audit, Providers: h.Providers, Registerer: h.Registry, HTTPClient: client,
		DemoPhoneURL: o.DemoPhoneURL,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.Router = httpserver.NewRouter()
	h.Journeys.Register(h.Router)
	crossOrigin, err := httpserver.CrossOrigin(httpserver.CrossOriginOptions{Logger: o.Logger})
	if err != nil {
		t.Fatal(err)
	}
	h.Server.Config.Handler = httpserver.Chain(h.Router,
		httpserver.RequestID(o.Logger),
		httpserver.Recover(o.Logger),
		httpserver.SecurityHeaders(httpserver.SecurityOptions{}),
		crossOrigin,
	)
	h.Server.Start()
	t.Cleanup(h.Server.Close)
	return h
}

// CreateAccount opens an account for p directly (no journey), with the
// given password, links and name/ID evidence, for login tests.
func (h *Harness) CreateAccount(p Person, pw string, links ...account.Link) account.Account {
	h.T.Helper()
	a, err := h.Accounts.Create(context.Background(), account.New{Name: p.Name, IDNumber: p.IDNumber, Phone: p.Phone, Password: pw,
		Portal: "hunanpea", Links: links,
		Evidence: []account.Evidence{{Provider: "ctid", Level: "name_id", VerifiedAt: h.Clock.Now()}}})
	if err != nil {
		h.T.Fatal(err)
	}
	return a
}

// DesktopUA is the user agent a Browser sends by default.
const DesktopUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"

// PhoneUA is a phone's WeChat in-app browser.
const PhoneUA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.49"

// Browser is a browser with its own cookies, following redirects.
type Browser struct {
	T         testing.TB
	Client    *http.Client
	Base      string
	UserAgent string
}

// Browser returns a new desktop browser for the gateway.
func (h *Harness) Browser() *Browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		h.T.Fatal(err)
	}
	return &Browser{T: h.T, Base: h.URL, UserAgent: DesktopUA, Client: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// Page is a response as a test reads it.
type Page struct {
	Status int
	URL    *url.URL
	Header http.Header
	Body   string
}

func (b *Browser) do(req *http.Request) *Page {
	b.T.Helper()
	req.Header.Set("User-Agent", b.UserAgent)
	resp, err := b.Client.Do(req)
	if err != nil {
		b.T.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.T.Fatal(err)
	}
	return &Page{Status: resp.StatusCode, URL: resp.Request.URL, Header: resp.Header, Body: string(body)}
}

func (b *Browser) abs(path string) string {
	if strings.HasPrefix(path, "http://") || strings.HasPrefix(path, "https://") {
		return path
	}
	return b.Base + path
}

// Get fetches path (or an absolute URL), following redirects.
func (b *Browser) Get(path string) *Page {
	b.T.Helper()
	req, err := http.NewRequest(http.MethodGet, b.abs(path), nil)
	if err != nil {
		b.T.Fatal(err)
	}
	return b.do(req)
}

// Post submits a form to path as a same-origin page would.
func (b *Browser) Post(path string, form url.Values) *Page {
	b.T.Helper()
	req, err := http.NewRequest(http.MethodPost, b.abs(path), strings.NewReader(form.Encode()))
	if err != nil {
		b.T.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.do(req)
}

// JSON fetches path and decodes its JSON body into v.
func (b *Browser) JSON(path string, v any) int {
	b.T.Helper()
	p := b.Get(path)
	if p.Status == http.StatusOK {
		if err := json.Unmarshal([]byte(p.Body), v); err != nil {
			b.T.Fatalf("GET %s: %v in %q", path, err, p.Body)
		}
	}
	return p.Status
}

// Status is a QR page's status-poll answer.
type Status struct {
	Phase     string `json:"state"`
	Message   string `json:"message"`
	ErrorKind string `json:"error_kind"`
	QRVersion int    `json:"qr_version"`
	Next      string `json:"next"`
}

var attrRE = regexp.MustCompile(`data-([a-z-]+)="([^"]*)"`)

// Attrs returns the values of every data-<name> attribute, in order.
func (p *Page) Attrs(name string) []string {
	var out []string
	for _, m := range attrRE.FindAllStringSubmatch(p.Body, -1) {
		if m[1] == name {
			out = append(out, html.UnescapeString(m[2]))
		}
	}
	return out
}

// Attr returns the first data-<name> attribute's value, or "".
func (p *Page) Attr(name string) string {
	if v := p.Attrs(name); len(v) > 0 {
		return v[0]
	}
	return ""
}

// Name is the page's data-page.
func (p *Page) Name() string { return p.Attr("page") }

// Step is the page's data-step.
func (p *Page) Step() string { return p.Attr("step") }

// QR is the QR content the page shows (data-qr).
func (p *Page) QR() string { return p.Attr("qr") }

// ErrorKinds are the data-error-kind values of the page's notices and
// QR panel, without empty ones.
func (p *Page) ErrorKinds() []string {
	var out []string
	for _, k := range p.Attrs("error-kind") {
		if k != "" {
			out = append(out, k)
		}
	}
	return out
}

// HasErrorKind reports whether the page explains kind.
func (p *Page) HasErrorKind(kind string) bool {
	for _, k := range p.ErrorKinds() {
		if k == kind {
			return true
		}
	}
	return false
}

// Contains reports whether the body contains s.
func (p *Page) Contains(s string) bool { return strings.Contains(p.Body, s) }

// Path is the page's URL path.
func (p *Page) Path() string { return p.URL.Path }

// FlowID returns the flow id in a journey URL (/p/realname/{flow}/…,
// /p/login/{flow}/…, /p/forgot/{flow}/…), or "".
func (p *Page) FlowID() string {
	parts := strings.Split(strings.Trim(p.URL.Path, "/"), "/")
	if len(parts) >= 4 {
		return parts[2]
	}
	return ""
}

// Counter returns the value of one series of a counter the journeys
// registered; labels are name, value pairs. A missing series fails the
// test: every series exists from the start.
func (h *Harness) Counter(name string, labels ...string) float64 {
	h.T.Helper()
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	mfs, err := h.Registry.Gather()
	if err != nil {
		h.T.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if got[k] != v {
					continue series
				}
			}
			if len(got) != len(want) {
				continue
			}
			return m.GetCounter().GetValue()
		}
		h.T.Fatalf("%s has no series %v", name, want)
	}
	h.T.Fatalf("no metric %s", name)
	return 0
}
