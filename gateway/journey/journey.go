// Package journey assembles the candidate journeys of the gateway, the
// pages of the candidate guide: the portals and their homes, real-name
// registration (获取实名认证) with its self-healing QR sessions, login by
// password, SMS code, scan and government-portal OIDC, the candidate's
// home with 完成并退出, and the phone change of 忘记密码. New takes every
// dependency; Register mounts the routes on the public router.
package journey

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shiming-id/shiming/gateway/account"
	"github.com/shiming-id/shiming/gateway/audit"
	"github.com/shiming-id/shiming/gateway/config"
	"github.com/shiming-id/shiming/gateway/flow"
	"github.com/shiming-id/shiming/gateway/flowpage"
	"github.com/shiming-id/shiming/gateway/httpserver"
	"github.com/shiming-id/shiming/gateway/journey/metrics"
	"github.com/shiming-id/shiming/gateway/login"
	"github.com/shiming-id/shiming/gateway/oidclogin"
	"github.com/shiming-id/shiming/gateway/phonechange"
	"github.com/shiming-id/shiming/gateway/portal"
	"github.com/shiming-id/shiming/gateway/ratelimit"
	"github.com/shiming-id/shiming/gateway/realname"
	"github.com/shiming-id/shiming/gateway/scan"
	"github.com/shiming-id/shiming/gateway/session"
	"github.com/shiming-id/shiming/gateway/smscode"
	"github.com/shiming-id/shiming/gateway/store"
	"github.com/shiming-id/shiming/gateway/web"
	"github.com/shiming-id/shiming/plugins/sdk"
)

// Providers is satisfied by the plugin host (gateway/pluginhost) in
// production and by in-process fakes in tests. An error means the
// provider is unknown or disabled; the journeys treat it as
// vendor_unavailable.
type Providers interface {
	ScanLogin(name string) (sdk.ScanLogin, error)
	IdentityChecker(name string) (sdk.IdentityChecker, error)
	FaceVerifier(name string) (sdk.FaceVerifier, error)
	PhoneVerifier(name string) (sdk.PhoneVerifier, error)
	// PhoneNotifier gives the notices of the SMS provider; a provider
	// that does not declare phone_notice answers NotSupported when
	// called.
	PhoneNotifier(name string) (sdk.PhoneNotifier, error)
}

// Deps is everything the journeys use.
type Deps struct {
	Logger *slog.Logger
	// Now is the clock of flows, codes and polls; default time.Now.
	Now      func() time.Time
	Portals  []config.Portal
	RealName config.RealName
	Limits   config.Limits
	OIDC     []config.Issuer
	// PublicURL is the gateway's base URL as browsers reach it, for the
	// vendors' callback URLs and the OIDC redirect URIs.
	PublicURL     string
	Sessions      *session.Manager
	Flows         *flow.Engine
	KV            store.KV
	Accounts      *account.Service
	Limiter       *ratelimit.Limiter
	PasswordGuard *ratelimit.PasswordGuard
	Audit         *audit.Log
	Providers     Providers
	Registerer    prometheus.Registerer
	// HTTPClient talks to the OIDC issuers; required with a timeout when
	// OIDC lists any.
	HTTPClient *http.Client
	// ClientIP returns the client address of a request (trusted-proxy
	// aware); default the host of RemoteAddr.
	ClientIP func(*http.Request) string
	// Assets serves the static files; it must hold Static()'s files. When
	// nil, New builds one (base files plus Static()) and Register
	// registers it.
	Assets *httpserver.Assets
	// DemoPhoneURL, when set (the sandbox runs in-process), adds to every
	// QR page a link that opens the code in the sandbox's virtual phone.
	DemoPhoneURL string
	// OIDCVerifierConfig adjusts the go-oidc verifier configuration of an
	// issuer (for conformance runs); nil keeps the defaults.
	OIDCVerifierConfig func(issuer string, c *oidc.Config)
}

// Journeys is the assembled set of handlers.
type Journeys struct {
	d         Deps
	metrics   *metrics.Journeys
	assets    *httpserver.Assets
	ownAssets bool
	scan      *scan.Machine
	portals   *portal.Portals
	realname  *realname.Handler
	login     *login.Handler
	phone     *phonechange.Handler
	oidc      *oidclogin.Handler
	pages     *web.Renderer
}

// Static returns the journeys' own static files (qr.js), for
// httpserver.NewAssets.
func Static() fs.FS { return web.Static() }

// RateLimitNames lists the rule names the journeys use, for
// ratelimit.New, so that their shiming_rate_limited_total series exist
// from the start.
func RateLimitNames() []string {
	return append(smscode.RuleNames(), flowpage.RuleFlowStart)
}

// reserved are first path segments a portal id cannot take.
var reserved = []string{"callback", "oidc", "static", "metrics", "healthz", "readyz"}

var portalID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// New checks d and builds the journeys.
func New(d Deps) (*Journeys, error) {
	var problems []error
	need := func(ok bool, name string) {
		if !ok {
			problems = append(problems, fmt.Errorf("%s is required", name))
		}
	}
	need(d.Sessions != nil, "Sessions")
	need(d.Flows != nil, "Flows")
	need(d.KV != nil, "KV")
	need(d.Accounts != nil, "Accounts")
	need(d.Limiter != nil, "Limiter")
	need(d.PasswordGuard != nil, "PasswordGuard")
	need(d.Audit != nil, "Audit")
	need(d.Providers != nil, "Providers")
	need(d.Registerer != nil, "Registerer")
	need(d.PublicURL != "", "PublicURL")
	need(len(d.Portals) > 0, "at least one portal")
	need(d.RealName.SMS != "", "RealName.SMS")
	need(d.RealName.IdentityCheck != "", "RealName.IdentityCheck")
	need(d.RealName.PhoneChangeFace != "", "RealName.PhoneChangeFace")
	if len(d.OIDC) > 0 {
		need(d.HTTPClient != nil && d.HTTPClient.Timeout > 0, "HTTPClient with a timeout (OIDC issuers are configured)")
	}
	for _, p := range d.Portals {
		if !portalID.MatchString(p.ID) || slices.Contains(reserved, p.ID) {
			problems = append(problems, fmt.Errorf("portal id %q cannot be a URL path segment of its own", p.ID))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("journey: %w", errors.Join(problems...))
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.ClientIP == nil {
		d.ClientIP = flowpage.RemoteIP
	}
	d.PublicURL = strings.TrimSuffix(d.PublicURL, "/")
	j := &Journeys{d: d, assets: d.Assets}
	if j.assets == nil {
		a, err := httpserver.NewAssets(Static())
		if err != nil {
			return nil, fmt.Errorf("journey: %w", err)
		}
		j.assets, j.ownAssets = a, true
	}
	var err error
	if j.metrics, err = metrics.New(d.Registerer, labels(d)); err != nil {
		return nil, err
	}
	if j.pages, err = web.NewRenderer(j.assets, d.Logger); err != nil {
		return nil, err
	}
	if err := j.build(); err != nil {
		return nil, fmt.Errorf("journey: %w", err)
	}
	return j, nil
}

// labels are the label values every metric series is created for.
func labels(d Deps) metrics.Labels {
	l := metrics.Labels{ScanProviders: d.RealName.ScanProviders}
	for _, p := range d.Portals {
		l.Portals = append(l.Portals, p.ID)
	}
	add := func(name string) {
		if name != "" && !slices.Contains(l.Providers, name) {
			l.Providers = append(l.Providers, name)
		}
	}
	for _, p := range d.RealName.ScanProviders {
		add(p)
	}
	add(d.RealName.IdentityCheck)
	add(d.RealName.SMS)
	add(d.RealName.PhoneChangeFace)
	faces := make([]string, 0, len(d.RealName.Face))
	for _, f := range d.RealName.Face {
		faces = append(faces, f)
	}
	slices.Sort(faces)
	for _, f := range faces {
		add(f)
	}
	for _, i := range d.OIDC {
		l.Issuers = append(l.Issuers, i.ID)
	}
	return l
}

func (j *Journeys) build() error {
	d := j.d
	var err error
	j.scan, err = scan.New(scan.Options{
		Providers: d.Providers, KV: d.KV, Now: d.Now, PollInterval: d.RealName.ScanPollInterval.D(),
		CallbackURL: func(provider string) string { return d.PublicURL + "/callback/" + provider },
		Observer:    j.metrics, Logger: d.Logger,
	})
	if err != nil {
		return err
	}
	sms, err := smscode.New(smscode.Options{
		Provider: d.RealName.SMS, Providers: d.Providers, Limiter: d.Limiter, Limits: d.Limits, Now: d.Now, Logger: d.Logger,
		Hash: func(kind, v string) string {
			if kind == "phone" {
				return d.Accounts.HashPhone(v)
			}
			return d.Accounts.HashIDNumber(v)
		},
	})
	if err != nil {
		return err
	}
	issuers := oidclogin.Choices(d.OIDC)
	j.portals, err = portal.New(portal.Options{Portals: d.Portals, Issuers: issuers, Sessions: d.Sessions, Accounts: d.Accounts,
		Audit: d.Audit, Pages: j.pages, Metrics: j.metrics, Logger: d.Logger})
	if err != nil {
		return err
	}
	desktop := j.portals.DesktopOnly
	deps := flowpage.Deps{
		Portals: d.Portals, Limits: d.Limits, FlowTTL: d.RealName.FlowTTL.D(), Sessions: d.Sessions, Flows: d.Flows,
		Accounts: d.Accounts, Limiter: d.Limiter, Audit: d.Audit, Scan: j.scan, SMS: sms, Pages: j.pages, Metrics: j.metrics,
		Desktop: desktop, ClientIP: d.ClientIP, DemoPhoneURL: d.DemoPhoneURL, Now: d.Now, Logger: d.Logger,
	}
	j.realname, err = realname.New(realname.Options{Deps: deps, RealName: d.RealName, PublicURL: d.PublicURL, Providers: d.Providers})
	if err != nil {
		return err
	}
	j.login, err = login.New(login.Options{Deps: deps, ScanProviders: d.RealName.ScanProviders, Issuers: issuers, Guard: d.PasswordGuard})
	if err != nil {
		return err
	}
	j.phone, err = phonechange.New(phonechange.Options{Deps: deps, RealName: d.RealName, PublicURL: d.PublicURL, Guard: d.PasswordGuard,
		Notifiers: d.Providers})
	if err != nil {
		return err
	}
	if len(d.OIDC) > 0 {
		oo := oidclogin.Options{VerifierConfig: d.OIDCVerifierConfig}
		oo.Portals, oo.Issuers, oo.PublicURL, oo.HTTPClient = d.Portals, d.OIDC, d.PublicURL, d.HTTPClient
		oo.Sessions, oo.Flows, oo.Accounts, oo.Pages, oo.Metrics = d.Sessions, d.Flows, d.Accounts, j.pages, j.metrics
		oo.SignIn, oo.Desktop, oo.Now, oo.Logger = j.login.SignIn, desktop, d.Now, d.Logger
		oo.Register = func(w http.ResponseWriter, r *http.Request, pt config.Portal, c oidclogin.Claims) (string, error) {
			return j.realname.StartFromClaims(w, r, pt, realname.Prefill{
				Provider: c.Provider, Name: c.Name, IDNumber: c.IDNumber,
				Evidence: account.Evidence{Provider: c.Provider, Level: c.Level, VerifiedAt: d.Now().UTC()},
				Link:     account.Link{Provider: c.Provider, Subject: c.Subject},
			})
		}
		if j.oidc, err = oidclogin.New(oo); err != nil {
			return err
		}
	}
	return nil
}

// Metrics returns the journeys' counters.
func (j *Journeys) Metrics() *metrics.Journeys { return j.metrics }

// Register mounts every route of the journeys on r (and the static files
// when New built them).
func (j *Journeys) Register(r *httpserver.Router) {
	if j.ownAssets {
		j.assets.Register(r)
	}
	j.portals.Register(r)
	j.realname.Register(r)
	j.login.Register(r)
	j.phone.Register(r)
	if j.oidc != nil {
		j.oidc.Register(r)
	}
	r.Handle("GET /callback/{provider}", http.HandlerFunc(j.callback))
}

// callback is where vendors send the browser after a scan (WeChat: code
// and state; Alipay: auth_code and state; a cancel without a code). It
// may be the phone's browser: the flow is found by the state parameter,
// never by the session, and nothing of it is shown.
func (j *Journeys) callback(w http.ResponseWriter, r *http.Request) {
	provider := r.PathValue("provider")
	if !slices.Contains(j.d.RealName.ScanProviders, provider) {
		httpserver.Error(w, r, http.StatusNotFound, "", nil)
		return
	}
	q := r.URL.Query()
	query := make(map[string]string, len(q))
	for k, v := range q {
		if len(v) > 0 {
			query[k] = v[0]
		}
	}
	kind, id, err := j.scan.Lookup(r.Context(), query["state"])
	if errors.Is(err, scan.ErrUnknownState) {
		flowpage.CallbackPage(w, r, j.pages, config.Portal{}, flowpage.CallbackExpired)
		return
	}
	if err != nil {
		httpserver.Error(w, r, http.StatusServiceUnavailable, "", err)
		return
	}
	switch kind {
	case realname.Kind:
		j.realname.Callback(w, r, id, provider, query["state"], query)
	case login.Kind:
		j.login.Callback(w, r, id, provider, query["state"], query)
	default:
		flowpage.CallbackPage(w, r, j.pages, config.Portal{}, flowpage.CallbackExpired)
	}
}
