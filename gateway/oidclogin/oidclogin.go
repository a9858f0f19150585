// Package oidclogin signs candidates in with a government portal's OpenID
// Connect provider (政务服务网登录): authorization code with PKCE S256, a
// state and a nonce per transaction kept in a flow bound to the browser,
// the ID token verified by coreos/go-oidc (issuer, audience, expiry,
// signature with RS256 or ES256 only) plus the checks go-oidc leaves to
// its caller (nonce, iat present and not in the future, sub, the userinfo
// sub). The account is found by its link to the issuer's subject, or,
// when the issuer's real-name claims are trusted by configuration, by the
// claimed ID number (and linked), or a registration begins pre-filled
// from the claims.
package oidclogin

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/shiming-id/shiming/gateway/account"
	"github.com/shiming-id/shiming/gateway/config"
	"github.com/shiming-id/shiming/gateway/flow"
	"github.com/shiming-id/shiming/gateway/httpserver"
	"github.com/shiming-id/shiming/gateway/journey/metrics"
	"github.com/shiming-id/shiming/gateway/session"
	"github.com/shiming-id/shiming/gateway/web"
	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

// Kind is the flow kind of an OIDC login transaction.
const Kind = "oidc"

// SigningAlgs are the only ID-token algorithms accepted ("none" never is).
var SigningAlgs = []string{oidc.RS256, oidc.ES256}

// MaxIssuedAtSkew is how far in the future an ID token's iat may lie
// (the issuer's clock running ahead of ours); go-oidc allows nbf the same.
const MaxIssuedAtSkew = 5 * time.Minute

// State is a transaction's state.
type State struct {
	Portal   string `json:"portal"`
	Issuer   string `json:"issuer"`
	State    string `json:"state"`
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"`
}

// Claims are the real-name claims of a trusted issuer, for a registration
// that begins from them.
type Claims struct {
	// Provider is oidc:<issuer id>.
	Provider       string
	Subject        string
	Name, IDNumber string
	// Level is the evidence level the configuration grants.
	Level string
}

// Options configure the handlers.
type Options struct {
	Portals []config.Portal
	Issuers []config.Issuer
	// PublicURL is the gateway's base URL; the redirect URI of issuer X is
	// PublicURL + "/oidc/X/callback".
	PublicURL string
	// HTTPClient talks to the issuers; it must have a timeout.
	HTTPClient *http.Client
	Sessions   *session.Manager
	Flows      *flow.Engine
	Accounts   *account.Service
	Pages      *web.Renderer
	Metrics    *metrics.Journeys
	// SignIn signs the browser in as a (login.Handler.SignIn).
	SignIn func(w http.ResponseWriter, r *http.Request, pt config.Portal, a account.Account, method string)
	// Register begins a real-name registration from trusted claims and
	// returns the URL to go to (realname.Handler.StartFromClaims).
	Register func(w http.ResponseWriter, r *http.Request, pt config.Portal, c Claims) (string, error)
	Desktop  func(config.Portal, http.Handler) http.Handler
	// Now is the clock of flows and of ID-token expiry checks.
	Now func() time.Time
	// VerifierConfig, when set, adjusts the go-oidc verifier configuration
	// of an issuer before use (tests and conformance runs change the
	// clock or the algorithms here).
	VerifierConfig func(issuer string, c *oidc.Config)
	// FlowTTL bounds a transaction; default ten minutes.
	FlowTTL time.Duration
	Logger  *slog.Logger
}

// Handler serves government-portal logins.
type Handler struct {
	o       Options
	issuers map[string]*issuer
}

// issuer is one configured provider, discovered at first use.
type issuer struct {
	cfg config.Issuer
	mu  sync.Mutex
	// provider and verifier are set once discovery succeeded.
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	failedAt time.Time
}

// rediscoverAfter spaces discovery attempts of an issuer that is down.
const rediscoverAfter = 5 * time.Second

// New returns the handlers. Issuers are not contacted until first used,
// so an issuer that is down does not stop the gateway.
func New(o Options) (*Handler, error) {
	if o.HTTPClient == nil || o.HTTPClient.Timeout <= 0 {
		return nil, errors.New("oidclogin: an HTTP client with a timeout is required")
	}
	if o.Sessions == nil || o.Flows == nil || o.Accounts == nil || o.Pages == nil || o.Metrics == nil || o.SignIn == nil || o.Register == nil {
		return nil, errors.New("oidclogin: a dependency is missing")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Desktop == nil {
		o.Desktop = func(_ config.Portal, h http.Handler) http.Handler { return h }
	}
	if o.FlowTTL <= 0 {
		o.FlowTTL = 10 * time.Minute
	}
	h := &Handler{o: o, issuers: map[string]*issuer{}}
	for _, c := range o.Issuers {
		if c.ID == "" || c.IssuerURL == "" || c.ClientID == "" {
			return nil, fmt.Errorf("oidclogin: issuer %q needs an id, an issuer URL and a client id", c.ID)
		}
		if _, dup := h.issuers[c.ID]; dup {
			return nil, fmt.Errorf("oidclogin: issuer %q is configured twice", c.ID)
		}
		h.issuers[c.ID] = &issuer{cfg: c}
	}
	return h, nil
}

// Choices are the login buttons of the configured issuers.
func Choices(issuers []config.Issuer) []web.Choice {
	out := make([]web.Choice, 0, len(issuers))
	for _, i := range issuers {
		name := i.Name
		if name == "" {
			name = "政务服务网"
		}
		out = append(out, web.Choice{ID: i.ID, Label: name})
	}
	return out
}

// Register adds GET /{portal}/oidc/{issuer}/start for every portal and
// GET /oidc/{issuer}/callback.
func (h *Handler) Register(r httpserver.Registrar) {
	for _, pt := range h.o.Portals {
		r.Handle("GET /"+pt.ID+"/oidc/{issuer}/start", h.o.Desktop(pt, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.start(w, r, pt) })))
	}
	r.Handle("GET /oidc/{issuer}/callback", http.HandlerFunc(h.callback))
}

// RedirectURL is the callback URL registered with issuer id.
func (h *Handler) RedirectURL(id string) string {
	return strings.TrimSuffix(h.o.PublicURL, "/") + "/oidc/" + id + "/callback"
}

func (h *Handler) clientContext(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, h.o.HTTPClient)
}

// discover returns the issuer's provider and verifier, discovering them
// on first use and again after a failure.
func (h *Handler) discover(ctx context.Context, iss *issuer) (*oidc.Provider, *oidc.IDTokenVerifier, error) {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	if iss.provider != nil {
		return iss.provider, iss.verifier, nil
	}
	if !iss.failedAt.IsZero() && h.o.Now().Sub(iss.failedAt) < rediscoverAfter {
		return nil, nil, errors.New("oidclogin: discovery failed moments ago")
	}
	p, err := oidc.NewProvider(h.clientContext(ctx), iss.cfg.IssuerURL)
	if err != nil {
		iss.failedAt = h.o.Now()
		return nil, nil, fmt.Errorf("oidclogin: discover %s: %w", iss.cfg.ID, err)
	}
	vc := &oidc.Config{ClientID: iss.cfg.ClientID, SupportedSigningAlgs: slices.Clone(SigningAlgs), Now: h.o.Now}
	if h.o.VerifierConfig != nil {
		h.o.VerifierConfig(iss.cfg.ID, vc)
	}
	iss.provider, iss.verifier = p, p.Verifier(vc)
	return iss.provider, iss.verifier, nil
}

func (h *Handler) oauth(p *oidc.Provider, iss *issuer) *oauth2.Config {
	scopes := iss.cfg.Scopes
	if !slices.Contains(scopes, oidc.ScopeOpenID) {
		scopes = append([]string{oidc.ScopeOpenID}, scopes...)
	}
	return &oauth2.Config{ClientID: iss.cfg.ClientID, ClientSecret: iss.cfg.ClientSecret, Endpoint: p.Endpoint(),
		RedirectURL: h.RedirectURL(iss.cfg.ID), Scopes: scopes}
}

// start sends the browser to the issuer's authorization endpoint.
func (h *Handler) start(w http.ResponseWriter, r *http.Request, pt config.Portal) {
	iss := h.issuers[r.PathValue("issuer")]
	if iss == nil {
		httpserver.Error(w, r, http.StatusNotFound, "", nil)
		return
	}
	p, _, err := h.discover(r.Context(), iss)
	if err != nil {
		h.refuse(w, r, pt, iss.cfg.ID, metrics.RefusalDiscovery, err)
		return
	}
	binding, err := h.o.Sessions.Binding(w, r)
	if err != nil {
		httpserver.Error(w, r, http.StatusServiceUnavailable, "", err)
		return
	}
	st := State{Portal: pt.ID, Issuer: iss.cfg.ID, State: oauth2.GenerateVerifier(), Nonce: oauth2.GenerateVerifier(), Verifier: oauth2.GenerateVerifier()}
	f, err := flow.Create(r.Context(), h.o.Flows, Kind, binding, h.o.FlowTTL, st)
	if err != nil {
		httpserver.Error(w, r, http.StatusServiceUnavailable, "", err)
		return
	}
	if err := h.o.Sessions.SetFlowID(w, r, Kind, f.ID); err != nil {
		httpserver.Error(w, r, http.StatusServiceUnavailable, "", err)
		return
	}
	u := h.oauth(p, iss).AuthCodeURL(st.State, oauth2.S256ChallengeOption(st.Verifier), oidc.Nonce(st.Nonce))
	http.Redirect(w, r, u, http.StatusFound)
}

// refusal is a callback refused for a counted reason.
type refusal struct {
	reason string
	err    error
}

func (e *refusal) Error() string { return "oidclogin: refused (" + e.reason + "): " + e.err.Error() }

func refuse(reason string, err error) error { return &refusal{reason: reason, err: err} }

// callback is the issuer's redirect back: the transaction is checked and
// consumed, the code exchanged, the ID token verified, and the candidate
// signed in or sent on.
func (h *Handler) callback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	issID := r.PathValue("issuer")
	iss := h.issuers[issID]
	if iss == nil {
		httpserver.Error(w, r, http.StatusNotFound, "", nil)
		return
	}
	st, err := h.consume(w, r, iss)
	pt := h.portal(st.Portal)
	if err != nil {
		h.refuse(w, r, pt, issID, reasonOf(err), err)
		return
	}
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		if e == "access_denied" {
			h.cancelled(w, r, pt)
			return
		}
		h.refuse(w, r, pt, issID, metrics.RefusalExchange, fmt.Errorf("oidclogin: authorization error %q", truncate(e, 64)))
		return
	}
	id, claims, err := h.verify(ctx, iss, st, q.Get("code"))
	if err != nil {
		h.refuse(w, r, pt, issID, reasonOf(err), err)
		return
	}
	h.resolve(w, r, pt, iss, id, claims)
}

// consume checks the transaction against the browser's flow and deletes
// it, so that a replayed callback fails the state check.
func (h *Handler) consume(w http.ResponseWriter, r *http.Request, iss *issuer) (State, error) {
	ctx := r.Context()
	id, err := h.o.Sessions.FlowID(r, Kind)
	if err != nil {
		return State{}, err
	}
	binding, err := h.o.Sessions.CurrentBinding(r)
	if err != nil {
		return State{}, err
	}
	if id == "" || binding == "" {
		return State{}, refuse(metrics.RefusalState, errors.New("no transaction in this browser"))
	}
	f, err := flow.Load[State](ctx, h.o.Flows, Kind, id, binding)
	if err != nil {
		return State{}, refuse(metrics.RefusalState, err)
	}
	st := f.State
	if err := flow.Delete(ctx, h.o.Flows, f.ID); err != nil {
		return st, err
	}
	if err := h.o.Sessions.SetFlowID(w, r, Kind, ""); err != nil {
		return st, err
	}
	q := r.URL.Query()
	got := q.Get("state")
	switch {
	case st.Issuer != iss.cfg.ID:
		return st, refuse(metrics.RefusalState, errors.New("callback for another issuer"))
	case got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(st.State)) != 1:
		return st, refuse(metrics.RefusalState, errors.New("state missing or wrong"))
	case q.Has("iss") && q.Get("iss") != iss.cfg.IssuerURL:
		return st, refuse(metrics.RefusalState, errors.New("iss parameter names another issuer"))
	}
	return st, nil
}

// reasonOf is the counted reason of a callback error.
func reasonOf(err error) string {
	var rf *refusal
	if errors.As(err, &rf) {
		return rf.reason
	}
	return metrics.RefusalExchange
}

// verify exchanges the code and checks the ID token, returning it with
// its claims (merged with the userinfo claims when the token lacks the
// real-name claims).
func (h *Handler) verify(ctx context.Context, iss *issuer, st State, code string) (*oidc.IDToken, map[string]any, error) {
	if code == "" {
		return nil, nil, refuse(metrics.RefusalExchange, errors.New("no code"))
	}
	p, verifier, err := h.discover(ctx, iss)
	if err != nil {
		return nil, nil, refuse(metrics.RefusalDiscovery, err)
	}
	cctx := h.clientContext(ctx)
	tok, err := h.oauth(p, iss).Exchange(cctx, code, oauth2.VerifierOption(st.Verifier))
	if err != nil {
		// The response body of a refusal is the issuer's; keep it out of
		// the logs, which must not carry codes or tokens.
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil {
			err = fmt.Errorf("oidclogin: token endpoint answered %d %q", re.Response.StatusCode, re.ErrorCode)
		}
		return nil, nil, refuse(metrics.RefusalExchange, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, nil, refuse(metrics.RefusalToken, errors.New("no id_token in the token response"))
	}
	id, err := verifier.Verify(cctx, raw)
	if err != nil {
		return nil, nil, refuse(metrics.RefusalToken, err)
	}
	if id.Nonce == "" || subtle.ConstantTimeCompare([]byte(id.Nonce), []byte(st.Nonce)) != 1 {
		return nil, nil, refuse(metrics.RefusalNonce, errors.New("nonce missing or wrong"))
	}
	if id.Subject == "" || id.IssuedAt.IsZero() {
		return nil, nil, refuse(metrics.RefusalToken, errors.New("sub or iat missing"))
	}
	// go-oidc checks exp and nbf but not iat: a token "issued" in the
	// future comes from a broken or forged issuer clock.
	if id.IssuedAt.After(h.o.Now().Add(MaxIssuedAtSkew)) {
		return nil, nil, refuse(metrics.RefusalToken, fmt.Errorf("iat %s is in the future", id.IssuedAt.UTC().Format(time.RFC3339)))
	}
	claims := map[string]any{}
	if err := id.Claims(&claims); err != nil {
		return nil, nil, refuse(metrics.RefusalToken, err)
	}
	rc := iss.cfg.RealNameClaims
	if rc.IDNumber != "" && claims[rc.IDNumber] == nil && p.UserInfoEndpoint() != "" {
		ui, err := p.UserInfo(cctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return nil, nil, refuse(metrics.RefusalToken, err)
		}
		if ui.Subject != id.Subject {
			return nil, nil, refuse(metrics.RefusalToken, errors.New("userinfo sub differs from the ID token's"))
		}
		var extra map[string]any
		if err := ui.Claims(&extra); err != nil {
			return nil, nil, refuse(metrics.RefusalToken, err)
		}
		for k, v := range extra {
			if _, ok := claims[k]; !ok {
				claims[k] = v
			}
		}
	}
	return id, claims, nil
}

// trusted returns the real-name claims when the issuer's configuration
// trusts them and they are all there.
func trusted(cfg config.Issuer, claims map[string]any, now time.Time) (name, idNumber string, ok bool) {
	rc := cfg.RealNameClaims
	if rc.Name == "" || rc.IDNumber == "" {
		return "", "", false
	}
	if rc.Require != "" {
		switch v := claims[rc.Require].(type) {
		case bool:
			if !v {
				return "", "", false
			}
		case string:
			if v != "true" {
				return "", "", false
			}
		default:
			return "", "", false
		}
	}
	name, _ = claims[rc.Name].(string)
	idNumber, _ = claims[rc.IDNumber].(string)
	idNumber = cnid.Normalize(idNumber)
	if strings.TrimSpace(name) == "" {
		return "", "", false
	}
	if _, err := cnid.Parse(idNumber, now); err != nil {
		return "", "", false
	}
	return strings.TrimSpace(name), idNumber, true
}

// resolve finds the account of a verified login and signs it in, or
// sends the candidate on.
func (h *Handler) resolve(w http.ResponseWriter, r *http.Request, pt config.Portal, iss *issuer, id *oidc.IDToken, claims map[string]any) {
	ctx := r.Context()
	provider := "oidc:" + iss.cfg.ID
	a, err := h.o.Accounts.ByLink(ctx, provider, id.Subject)
	if err == nil {
		h.o.SignIn(w, r, pt, a, metrics.MethodOIDC)
		return
	}
	if !errors.Is(err, account.ErrNotFound) {
		h.o.Metrics.Login(pt.ID, metrics.MethodOIDC, metrics.LoginError)
		httpserver.Error(w, r, http.StatusInternalServerError, "", err)
		return
	}
	name, idNumber, ok := trusted(iss.cfg, claims, h.o.Now())
	if !ok {
		h.notLinked(w, r, pt, iss)
		return
	}
	level := iss.cfg.RealNameClaims.Level
	if level == "" {
		level = sdk.LevelNameID.String()
	}
	a, err = h.o.Accounts.ByIDNumber(ctx, idNumber)
	if errors.Is(err, account.ErrNotFound) {
		u, err := h.o.Register(w, r, pt, Claims{Provider: provider, Subject: id.Subject, Name: name, IDNumber: idNumber, Level: level})
		if err != nil {
			httpserver.Error(w, r, http.StatusServiceUnavailable, "", err)
			return
		}
		http.Redirect(w, r, u, http.StatusSeeOther)
		return
	}
	if err != nil {
		h.o.Metrics.Login(pt.ID, metrics.MethodOIDC, metrics.LoginError)
		httpserver.Error(w, r, http.StatusInternalServerError, "", err)
		return
	}
	if err := h.o.Accounts.Link(ctx, a.ID, account.Link{Provider: provider, Subject: id.Subject}); err != nil {
		h.o.Metrics.Login(pt.ID, metrics.MethodOIDC, metrics.LoginError)
		httpserver.Error(w, r, http.StatusInternalServerError, "", err)
		return
	}
	if err := h.o.Accounts.AddEvidence(ctx, a.ID, account.Evidence{Provider: provider, Level: level, VerifiedAt: h.o.Now().UTC()}); err != nil {
		httpserver.LoggerFrom(ctx, h.o.Logger).WarnContext(ctx, "oidclogin: add evidence", slog.Any("error", err))
	}
	httpserver.LoggerFrom(ctx, h.o.Logger).InfoContext(ctx, "oidclogin: linked by trusted claims",
		slog.String("issuer", iss.cfg.ID), slog.String("account", a.ID), slog.String("id_number", cnid.MaskID(idNumber)))
	h.o.SignIn(w, r, pt, a, metrics.MethodOIDC)
}

func (h *Handler) portal(id string) config.Portal {
	for _, p := range h.o.Portals {
		if p.ID == id {
			return p
		}
	}
	return config.Portal{}
}

func (h *Handler) issuerName(iss *issuer) string {
	if iss.cfg.Name != "" {
		return iss.cfg.Name
	}
	return "政务服务网"
}

func (h *Handler) notLinked(w http.ResponseWriter, r *http.Request, pt config.Portal, iss *issuer) {
	h.o.Metrics.Login(pt.ID, metrics.MethodOIDC, metrics.LoginNotLinked)
	name := h.issuerName(iss)
	h.o.Pages.Render(w, r, http.StatusOK, web.Page{Name: "message", Title: "账号尚未关联", Step: "oidc_not_linked", Portal: pt,
		Notices: []web.Notice{{Tone: web.ToneWarn, Kind: metrics.LoginNotLinked, Text: "您的" + name + "账号尚未关联本系统的实名账号。"}},
		Data: web.Message{
			Paragraphs: []string{"请先获取实名认证完成注册；已注册的考生请用身份证号码和密码登录，或验码登录。"},
			Actions:    h.actions(pt, true),
		}})
}

func (h *Handler) actions(pt config.Portal, realname bool) []web.Action {
	if pt.ID == "" {
		return []web.Action{{Label: "返回首页", URL: "/", Primary: true}}
	}
	var out []web.Action
	if realname {
		out = append(out, web.Action{Label: "获取实名认证", URL: "/" + pt.ID + "/realname/", Primary: true})
	}
	return append(out, web.Action{Label: "其他登录方式", URL: "/" + pt.ID + "/login", Primary: !realname})
}

func (h *Handler) cancelled(w http.ResponseWriter, r *http.Request, pt config.Portal) {
	h.o.Pages.Render(w, r, http.StatusOK, web.Page{Name: "message", Title: "已取消登录", Step: "oidc_cancelled", Portal: pt,
		Notices: []web.Notice{{Tone: web.ToneInfo, Text: "您已取消政务服务网登录。"}},
		Data:    web.Message{Actions: h.actions(pt, false)}})
}

// refusalTexts are the candidate's words for each refusal.
var refusalTexts = map[string]string{
	metrics.RefusalState:     "登录请求已失效或不是从本浏览器发起的。请回到报名入口，重新点击政务服务网登录。",
	metrics.RefusalNonce:     "登录结果校验未通过。请回到报名入口，重新点击政务服务网登录。",
	metrics.RefusalToken:     "政务服务网返回的登录凭证校验未通过。请稍后重新登录，或使用其他登录方式。",
	metrics.RefusalExchange:  "暂时无法从政务服务网取得登录结果。请稍后重新登录，或使用其他登录方式。",
	metrics.RefusalDiscovery: "政务服务网暂时无法连接。请稍后再试，或使用其他登录方式。",
}

// refuse counts, logs and explains a refused login.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, pt config.Portal, issuer, reason string, err error) {
	ctx := r.Context()
	h.o.Metrics.OIDCRefusal(issuer, reason)
	if pt.ID != "" {
		h.o.Metrics.Login(pt.ID, metrics.MethodOIDC, metrics.LoginError)
	}
	httpserver.LoggerFrom(ctx, h.o.Logger).WarnContext(ctx, "oidclogin: refused", slog.String("issuer", issuer),
		slog.String("reason", reason), slog.Any("error", err))
	status := http.StatusBadRequest
	if reason == metrics.RefusalExchange || reason == metrics.RefusalDiscovery {
		status = http.StatusBadGateway
	}
	h.o.Pages.Render(w, r, status, web.Page{Name: "message", Title: "政务服务网登录未完成", Step: "oidc_refused", Portal: pt,
		Notices: []web.Notice{{Tone: web.ToneError, Kind: "oidc_" + reason, Text: refusalTexts[reason]}},
		Data:    web.Message{Actions: h.actions(pt, false)}})
}

// truncate bounds a value an issuer chose before it is logged.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
