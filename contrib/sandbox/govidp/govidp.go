// Package govidp is the sandbox's government-portal identity provider: an
// OpenID Connect provider, built on zitadel/oidc's op package, that signs
// in the citizens of the sandbox registry the way a provincial 政务服务网
// unified identity authentication (统一身份认证) platform would, and tells
// the relying party their real-name status in ID token claims.
package govidp

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"github.com/shiming-id/shiming/contrib/sandbox/citizens"
	"github.com/shiming-id/shiming/contrib/sandbox/simenv"
)

// Host is the path prefix the IdP is served under, the key of Routes.
const Host = "govidp"

// SandboxPassword is the password of every citizen on the sandbox IdP. It
// is shown on the login page.
const SandboxPassword = "sandbox123"

// Lifetimes.
const (
	idTokenTTL     = 10 * time.Minute
	accessTokenTTL = time.Hour
	authRequestTTL = 10 * time.Minute
	authCodeTTL    = 5 * time.Minute
)

// Client is a relying party registered with the IdP.
type Client struct {
	ID string `yaml:"id"`
	// Secret authenticates the client at the token endpoint (HTTP Basic or
	// form). An empty secret makes a public client, which must use PKCE
	// alone.
	Secret string `yaml:"secret"`
	// RedirectURIs are compared with redirect_uri exactly.
	RedirectURIs []string `yaml:"redirect_uris"`
}

// IdP is the sandbox government-portal OpenID provider.
type IdP struct {
	env      simenv.Env
	log      *slog.Logger
	now      func() time.Time
	reg      *citizens.Registry
	issuer   string
	secret   []byte
	subjects map[string]citizens.Citizen // sub -> citizen
	keys     *keyring
	store    *storage
	provider *op.Provider
	pages    *template.Template
	handler  http.Handler
}

// New returns the IdP for the given clients. Its signing keys and the
// secret subjects derive from are kept in env.DataDir/govidp (created once,
// files mode 0600); with an empty DataDir they live in memory only.
func New(env simenv.Env, clients []Client) (*IdP, error) {
	p := &IdP{
		env:      env,
		log:      env.Logger,
		now:      env.Now,
		reg:      env.Citizens,
		issuer:   strings.TrimSuffix(env.PublicURL, "/") + "/" + Host,
		subjects: map[string]citizens.Citizen{},
	}
	if p.log == nil {
		p.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.reg == nil {
		p.reg = citizens.Default()
	}
	u, err := url.Parse(p.issuer)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("govidp: public URL %q is not an absolute http(s) URL", env.PublicURL)
	}
	byID, problems := map[string]*Client{}, []error(nil)
	for i := range clients {
		c := clients[i]
		switch {
		case c.ID == "":
			problems = append(problems, fmt.Errorf("client %d: id is required", i))
		case byID[c.ID] != nil:
			problems = append(problems, fmt.Errorf("client %d: duplicate id %q", i, c.ID))
		case len(c.RedirectURIs) == 0:
			problems = append(problems, fmt.Errorf("client %q: redirect_uris is required", c.ID))
		default:
			for _, ru := range c.RedirectURIs {
				if ru2, err := url.Parse(ru); err != nil || ru2.Host == "" || (ru2.Scheme != "http" && ru2.Scheme != "https") || ru2.Fragment != "" {
					problems = append(problems, fmt.Errorf("client %q: redirect URI %q is not an absolute http(s) URL without fragment", c.ID, ru))
				}
			}
			byID[c.ID] = &c
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("govidp: %w", errors.Join(problems...))
	}
	if p.secret, err = loadSecret(env.DataDir); err != nil {
		return nil, err
	}
	if p.keys, err = loadKeyring(env.DataDir, p.now); err != nil {
		return nil, err
	}
	for _, c := range p.reg.All() {
		p.subjects[p.subject(c)] = c
	}
	if p.pages, err = parsePages(); err != nil {
		return nil, err
	}
	p.store = newStorage(p, byID)

	config := &op.Config{
		CryptoKey:                sha256.Sum256(append([]byte("govidp access tokens\x00"), p.secret...)),
		CryptoKeyId:              "govidp",
		DefaultLogoutRedirectURI: p.issuer + loggedOutPath,
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		SupportedUILocales:       []language.Tag{language.SimplifiedChinese},
		SupportedScopes:          []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopePhone, ScopeRealName},
		SupportedClaims: append(append([]string(nil), op.DefaultSupportedClaims...),
			ClaimIDNumber, ClaimRealNameVerified, ClaimRealNameLevel),
	}
	opts := []op.Option{}
	if u.Scheme == "http" {
		opts = append(opts, op.WithAllowInsecure())
	}
	if p.provider, err = op.NewProvider(config, p.store, op.StaticIssuer(p.issuer), opts...); err != nil {
		return nil, fmt.Errorf("govidp: provider: %w", err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc(loginPath, p.serveLogin)
	mux.HandleFunc("GET "+loggedOutPath, p.serveLoggedOut)
	mux.Handle("GET /static/", staticHandler())
	mux.Handle("/", p.provider)
	p.handler = p.injectFaults(securityHeaders(mux))
	return p, nil
}

// Issuer is the IdP's issuer URL: env.PublicURL + "/govidp".
func (p *IdP) Issuer() string { return p.issuer }

// Routes returns the IdP's handler under the key "govidp"; it expects
// paths with the "/govidp" prefix already stripped.
func (p *IdP) Routes() map[string]http.Handler {
	return map[string]http.Handler{Host: p.handler}
}

// RotateKey makes a fresh RSA key the signing key. The previous public key
// stays in the JWKS until every ID token it signed has expired, so tokens
// issued before the rotation still verify.
func (p *IdP) RotateKey() error {
	return p.keys.rotate(idTokenTTL)
}

// securityHeaders sets the headers every response of the IdP carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// injectFaults applies the sandbox's fault rules for vendor "govidp"; a
// rule's code is answered as an OAuth error ("temporarily_unavailable",
// "server_error", "invalid_grant", ...).
func (p *IdP) injectFaults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, handled := p.env.Inject(w, r, Host, r.URL.Path)
		if handled {
			return
		}
		if code == "" {
			next.ServeHTTP(w, r)
			return
		}
		status := http.StatusBadRequest
		switch code {
		case "temporarily_unavailable":
			status = http.StatusServiceUnavailable
		case "server_error":
			status = http.StatusInternalServerError
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": "sandbox fault"})
	})
}
