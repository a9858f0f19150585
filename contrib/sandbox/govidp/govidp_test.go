package govidp

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/shiming-id/shiming/contrib/sandbox/citizens"
	"github.com/shiming-id/shiming/contrib/sandbox/fault"
	"github.com/shiming-id/shiming/contrib/sandbox/simenv"
)

const (
	gatewayID     = "shiming-gateway"
	gatewaySecret = "gw-secret"
	publicID      = "public-client"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is the IdP mounted as the sandbox frame mounts it, with a
// browser that does not follow redirects.
type fixture struct {
	idp      *IdP
	srv      *httptest.Server
	clock    *clock
	faults   *fault.Set
	reg      *citizens.Registry
	browser  *http.Client
	callback string
}

func newFixture(t *testing.T, dataDir string) *fixture {
	t.Helper()
	f := &fixture{clock: &clock{t: time.Now()}, faults: &fault.Set{}, reg: citizens.Default()}
	var handler http.Handler = http.NotFoundHandler()
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(f.srv.Close)
	f.callback = f.srv.URL + "/rp/callback"
	idp, err := New(simenv.Env{Now: f.clock.Now, PublicURL: f.srv.URL, DataDir: dataDir, Citizens: f.reg, Faults: f.faults}, []Client{
		{ID: gatewayID, Secret: gatewaySecret, RedirectURIs: []string{f.callback}},
		{ID: publicID, RedirectURIs: []string{f.callback}},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.idp = idp
	mux := http.NewServeMux()
	for host, h := range idp.Routes() {
		mux.Handle("/"+host+"/", http.StripPrefix("/"+host, h))
	}
	handler = mux
	f.browser = &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return f
}

func (f *fixture) ctx(t *testing.T) context.Context {
	client := &http.Client{Timeout: 10 * time.Second}
	return oidc.ClientContext(t.Context(), client)
}

func (f *fixture) provider(t *testing.T) *oidc.Provider {
	t.Helper()
	p, err := oidc.NewProvider(f.ctx(t), f.idp.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (f *fixture) config(p *oidc.Provider, clientID, secret string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     clientID,
		ClientSecret: secret,
		Endpoint:     p.Endpoint(),
		RedirectURL:  f.callback,
		Scopes:       []string{oidc.ScopeOpenID, "profile", "phone", ScopeRealName},
	}
}

// step follows one redirect by hand.
func (f *fixture) do(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := f.browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func (f *fixture) get(t *testing.T, u string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f.do(t, req)
}

// signIn drives the browser from the authorization URL through the login
// form and returns the redirect to the relying party.
func (f *fixture) signIn(t *testing.T, authURL, idNumber, password string) *url.URL {
	t.Helper()
	resp, body := f.get(t, authURL)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: %d %s", resp.StatusCode, body)
	}
	loginURL := resp.Header.Get("Location")
	if !strings.HasPrefix(loginURL, f.idp.Issuer()+loginPath+"?") {
		t.Fatalf("authorize redirects to %q", loginURL)
	}
	resp, body = f.get(t, loginURL)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, SandboxPassword) {
		t.Fatalf("login page: %d %s", resp.StatusCode, body)
	}
	m := regexp.MustCompile(`name="authRequestID" value="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no authRequestID in the form")
	}
	form := url.Values{"authRequestID": {m[1]}, "id_number": {idNumber}, "password": {password}}
	req, _ := http.NewRequest(http.MethodPost, f.idp.Issuer()+loginPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, body = f.do(t, req)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	resp, body = f.get(t, resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("callback: %d %s", resp.StatusCode, body)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// claims are the ID token claims the gateway reads.
type claims struct {
	Subject          string `json:"sub"`
	Name             string `json:"name"`
	IDNumber         string `json:"id_number"`
	RealNameVerified bool   `json:"real_name_verified"`
	RealNameLevel    string `json:"real_name_level"`
	Phone            string `json:"phone_number"`
	PhoneVerified    bool   `json:"phone_number_verified"`
}

// flow runs a whole authorization code + PKCE flow for a citizen and
// returns the verified ID token and the oauth2 token.
func (f *fixture) flow(t *testing.T, p *oidc.Provider, key string) (*oidc.IDToken, *oauth2.Token) {
	t.Helper()
	conf := f.config(p, gatewayID, gatewaySecret)
	c, _ := f.reg.ByKey(key)
	verifier, state, nonce := oauth2.GenerateVerifier(), "state-"+key, "nonce-"+oauth2.GenerateVerifier()
	u := f.signIn(t, conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)), c.IDNumber, SandboxPassword)
	if got := u.Scheme + "://" + u.Host + u.Path; got != f.callback || u.Query().Get("state") != state {
		t.Fatalf("redirect %s", u)
	}
	tok, err := conf.Exchange(f.ctx(t), u.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	id, err := p.Verifier(&oidc.Config{ClientID: gatewayID}).Verify(f.ctx(t), raw)
	if err != nil {
		t.Fatal(err)
	}
	if id.Nonce != nonce {
		t.Fatalf("nonce %q, want %q", id.Nonce, nonce)
	}
	return id, tok
}

func TestDiscovery(t *testing.T) {
	f := newFixture(t, t.TempDir())
	resp, body := f.get(t, f.idp.Issuer()+"/.well-known/openid-configuration")
	if resp.StatusCode != http.StatusOK {
		t.Fatal(resp.Status)
	}
	var d struct {
		Issuer     string   `json:"issuer"`
		Methods    []string `json:"code_challenge_methods_supported"`
		Scopes     []string `json:"scopes_supported"`
		Claims     []string `json:"claims_supported"`
		Responses  []string `json:"response_types_supported"`
		JWKS       string   `json:"jwks_uri"`
		EndSession string   `json:"end_session_endpoint"`
	}
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatal(err)
	}
	if d.Issuer != f.srv.URL+"/govidp" || d.Issuer != f.idp.Issuer() {
		t.Fatalf("issuer %q", d.Issuer)
	}
	if !slices.Equal(d.Methods, []string{"S256"}) {
		t.Fatalf("code_challenge_methods_supported %v", d.Methods)
	}
	for _, s := range []string{"openid", "profile", "phone", ScopeRealName} {
		if !slices.Contains(d.Scopes, s) {
			t.Errorf("scope %s not advertised", s)
		}
	}
	for _, c := range []string{ClaimIDNumber, ClaimRealNameVerified, ClaimRealNameLevel, "name", "phone_number"} {
		if !slices.Contains(d.Claims, c) {
			t.Errorf("claim %s not advertised", c)
		}
	}
	if !strings.HasPrefix(d.JWKS, d.Issuer+"/") || !strings.HasPrefix(d.EndSession, d.Issuer+"/") {
		t.Fatalf("endpoints %s %s", d.JWKS, d.EndSession)
	}
	f.provider(t) // go-oidc accepts the discovery document
}

func TestAuthorizationCodeFlowWithPKCE(t *testing.T) {
	f := newFixture(t, t.TempDir())
	p := f.provider(t)
	tests := []struct {
		key   string
		level string
	}{
		{"c001", LevelFace},
		{"c031", LevelNameID}, // the face fails: never 实人
		{"c035", LevelFace},   // the registry's name, not the card's
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			c, _ := f.reg.ByKey(tc.key)
			id, tok := f.flow(t, p, tc.key)
			var got claims
			if err := id.Claims(&got); err != nil {
				t.Fatal(err)
			}
			want := claims{Subject: f.idp.subject(c), Name: c.RegistryName, IDNumber: c.IDNumber, RealNameVerified: true, RealNameLevel: tc.level, Phone: c.Phone, PhoneVerified: true}
			if got != want {
				t.Fatalf("claims %+v\nwant %+v", got, want)
			}
			if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(got.Subject) {
				t.Fatalf("sub %q", got.Subject)
			}
			info, err := p.UserInfo(f.ctx(t), oauth2.StaticTokenSource(tok))
			if err != nil {
				t.Fatal(err)
			}
			var ui claims
			if err := info.Claims(&ui); err != nil {
				t.Fatal(err)
			}
			if ui != want {
				t.Fatalf("userinfo %+v", ui)
			}
		})
	}
	t.Run("the same citizen gets the same sub", func(t *testing.T) {
		a, _ := f.flow(t, p, "c002")
		b, _ := f.flow(t, p, "c002")
		c, _ := f.flow(t, p, "c003")
		if a.Subject != b.Subject || a.Subject == c.Subject {
			t.Fatalf("subs %s %s %s", a.Subject, b.Subject, c.Subject)
		}
	})
	t.Run("openid scope alone releases no personal claims", func(t *testing.T) {
		conf := f.config(p, gatewayID, gatewaySecret)
		conf.Scopes = []string{oidc.ScopeOpenID}
		c, _ := f.reg.ByKey("c004")
		v := oauth2.GenerateVerifier()
		u := f.signIn(t, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v)), c.IDNumber, SandboxPassword)
		tok, err := conf.Exchange(f.ctx(t), u.Query().Get("code"), oauth2.VerifierOption(v))
		if err != nil {
			t.Fatal(err)
		}
		id, err := p.Verifier(&oidc.Config{ClientID: gatewayID}).Verify(f.ctx(t), tok.Extra("id_token").(string))
		if err != nil {
			t.Fatal(err)
		}
		var got claims
		if err := id.Claims(&got); err != nil {
			t.Fatal(err)
		}
		if got != (claims{Subject: f.idp.subject(c)}) {
			t.Fatalf("claims %+v", got)
		}
	})
	t.Run("public client with PKCE only", func(t *testing.T) {
		conf := f.config(p, publicID, "")
		c, _ := f.reg.ByKey("c005")
		v := oauth2.GenerateVerifier()
		u := f.signIn(t, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v)), c.IDNumber, SandboxPassword)
		if _, err := conf.Exchange(f.ctx(t), u.Query().Get("code"), oauth2.VerifierOption(v)); err != nil {
			t.Fatal(err)
		}
	})
}

func TestTokenEndpointRefusals(t *testing.T) {
	f := newFixture(t, t.TempDir())
	p := f.provider(t)
	conf := f.config(p, gatewayID, gatewaySecret)
	c, _ := f.reg.ByKey("c001")
	code := func(v string) string {
		return f.signIn(t, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v)), c.IDNumber, SandboxPassword).Query().Get("code")
	}
	tests := []struct {
		name     string
		exchange func() error
	}{
		{"code used twice", func() error {
			v := oauth2.GenerateVerifier()
			cd := code(v)
			if _, err := conf.Exchange(f.ctx(t), cd, oauth2.VerifierOption(v)); err != nil {
				t.Fatal(err)
			}
			_, err := conf.Exchange(f.ctx(t), cd, oauth2.VerifierOption(v))
			return err
		}},
		{"wrong verifier", func() error {
			cd := code(oauth2.GenerateVerifier())
			_, err := conf.Exchange(f.ctx(t), cd, oauth2.VerifierOption(oauth2.GenerateVerifier()))
			return err
		}},
		{"no verifier", func() error {
			_, err := conf.Exchange(f.ctx(t), code(oauth2.GenerateVerifier()))
			return err
		}},
		{"wrong client secret", func() error {
			v := oauth2.GenerateVerifier()
			bad := *conf
			bad.ClientSecret = "nope"
			_, err := bad.Exchange(f.ctx(t), code(v), oauth2.VerifierOption(v))
			return err
		}},
		{"expired code", func() error {
			v := oauth2.GenerateVerifier()
			cd := code(v)
			f.clock.Advance(authCodeTTL)
			_, err := conf.Exchange(f.ctx(t), cd, oauth2.VerifierOption(v))
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.exchange()
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) || (re.ErrorCode != "invalid_grant" && re.ErrorCode != "invalid_request" && re.ErrorCode != "invalid_client") {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestAuthorizeRefusals(t *testing.T) {
	f := newFixture(t, t.TempDir())
	p := f.provider(t)
	conf := f.config(p, gatewayID, gatewaySecret)
	v := oauth2.GenerateVerifier()
	tests := []struct {
		name       string
		url        func() string
		redirected bool   // the error goes back to the (registered) redirect URI
		errorCode  string // its error parameter
	}{
		{"plain PKCE", func() string {
			return conf.AuthCodeURL("s", oauth2.SetAuthURLParam("code_challenge", v), oauth2.SetAuthURLParam("code_challenge_method", "plain"))
		}, true, "invalid_request"},
		{"no PKCE", func() string { return conf.AuthCodeURL("s") }, true, "invalid_request"},
		{"PKCE challenge without method (plain by default)", func() string {
			return conf.AuthCodeURL("s", oauth2.SetAuthURLParam("code_challenge", v))
		}, true, "invalid_request"},
		{"prompt=none", func() string {
			return conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("prompt", "none"))
		}, true, "login_required"},
		{"unregistered redirect URI", func() string {
			bad := *conf
			bad.RedirectURL = f.callback + "/evil"
			return bad.AuthCodeURL("s", oauth2.S256ChallengeOption(v))
		}, false, ""},
		{"redirect URI differing in case", func() string {
			bad := *conf
			bad.RedirectURL = strings.Replace(f.callback, "/rp/", "/RP/", 1)
			return bad.AuthCodeURL("s", oauth2.S256ChallengeOption(v))
		}, false, ""},
		{"unknown client", func() string {
			bad := *conf
			bad.ClientID = "nobody"
			return bad.AuthCodeURL("s", oauth2.S256ChallengeOption(v))
		}, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.get(t, tc.url())
			if !tc.redirected {
				if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
					t.Fatalf("status %d location %q: %s", resp.StatusCode, resp.Header.Get("Location"), body)
				}
				return
			}
			loc, err := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusFound || err != nil {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if loc.Scheme+"://"+loc.Host+loc.Path != f.callback || loc.Query().Get("error") != tc.errorCode || loc.Query().Get("state") != "s" {
				t.Fatalf("redirect %s", loc)
			}
		})
	}
}

func TestLoginForm(t *testing.T) {
	f := newFixture(t, t.TempDir())
	p := f.provider(t)
	conf := f.config(p, gatewayID, gatewaySecret)
	resp, _ := f.get(t, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	loginURL := resp.Header.Get("Location")
	id := regexp.MustCompile(`authRequestID=([0-9a-f]+)`).FindStringSubmatch(loginURL)[1]

	resp, body := f.get(t, loginURL)
	h := resp.Header
	if h.Get("Content-Type") != "text/html; charset=utf-8" || !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") ||
		h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("headers %v", h)
	}
	for _, s := range []string{"统一身份认证", "沙箱", "身份证号码", SandboxPassword} {
		if !strings.Contains(body, s) {
			t.Errorf("login page lacks %q", s)
		}
	}
	if strings.Contains(body, "<script") || strings.Contains(body, "style=") {
		t.Error("inline script or style")
	}
	post := func(idNumber, password string) (*http.Response, string) {
		form := url.Values{"authRequestID": {id}, "id_number": {idNumber}, "password": {password}}
		req, _ := http.NewRequest(http.MethodPost, f.idp.Issuer()+loginPath, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return f.do(t, req)
	}
	c, _ := f.reg.ByKey("c013") // ends in X
	tests := []struct {
		name     string
		idNumber string
		password string
		ok       bool
	}{
		{"wrong password", c.IDNumber, "wrong", false},
		{"unregistered valid number", "11010519491231002X", SandboxPassword, false},
		{"not a number", "abc", SandboxPassword, false},
		{"lower-case x is accepted", strings.ToLower(c.IDNumber), SandboxPassword, true},
		{"the request is used up", c.IDNumber, SandboxPassword, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := post(tc.idNumber, tc.password)
			if tc.ok {
				if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), f.idp.Issuer()+callbackPath) {
					t.Fatalf("status %d %s", resp.StatusCode, body)
				}
				return
			}
			if resp.StatusCode == http.StatusFound {
				t.Fatal("login accepted")
			}
		})
	}
	resp, _ = f.get(t, f.idp.Issuer()+loginPath+"?authRequestID=unknown")
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("unknown request: %d", resp.StatusCode)
	}
}

func kid(t *testing.T, raw string) string {
	t.Helper()
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	return jws.Signatures[0].Header.KeyID
}

func jwksKids(t *testing.T, f *fixture) []string {
	t.Helper()
	_, body := f.get(t, f.idp.Issuer()+"/keys")
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(body), &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		if !k.IsPublic() || k.Algorithm != "RS256" || k.Use != "sig" {
			t.Fatalf("JWKS key %+v", k)
		}
		kids = append(kids, k.KeyID)
	}
	return kids
}

func TestKeyRotation(t *testing.T) {
	f := newFixture(t, t.TempDir())
	p := f.provider(t)
	_, tok1 := f.flow(t, p, "c001")
	raw1 := tok1.Extra("id_token").(string)
	kid1 := kid(t, raw1)
	if kids := jwksKids(t, f); !slices.Equal(kids, []string{kid1}) {
		t.Fatalf("JWKS %v", kids)
	}
	if err := f.idp.RotateKey(); err != nil {
		t.Fatal(err)
	}
	_, tok2 := f.flow(t, p, "c002") // the cached key set refetches for the new kid
	raw2 := tok2.Extra("id_token").(string)
	kid2 := kid(t, raw2)
	if kid2 == kid1 {
		t.Fatal("the signing key did not change")
	}
	if kids := jwksKids(t, f); !slices.Equal(kids, []string{kid2, kid1}) {
		t.Fatalf("JWKS after rotation %v", kids)
	}
	fresh := f.provider(t).Verifier(&oidc.Config{ClientID: gatewayID})
	if _, err := fresh.Verify(f.ctx(t), raw1); err != nil {
		t.Fatalf("a token signed before the rotation no longer verifies: %v", err)
	}
	f.clock.Advance(idTokenTTL)
	if kids := jwksKids(t, f); !slices.Equal(kids, []string{kid2}) {
		t.Fatalf("JWKS once the old tokens expired %v", kids)
	}
	if _, err := f.provider(t).Verifier(&oidc.Config{ClientID: gatewayID, SkipExpiryCheck: true}).Verify(f.ctx(t), raw1); err == nil {
		t.Fatal("the retired key still verifies")
	}
}

func TestStatePersistsPerDataFolder(t *testing.T) {
	dir := t.TempDir()
	a := newFixture(t, dir)
	kidsA := jwksKids(t, a)
	c, _ := a.reg.ByKey("c001")
	subA := a.idp.subject(c)
	for _, name := range []string{keysFile, secretFile} {
		st, err := os.Stat(filepath.Join(dir, dataSubdir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Fatalf("%s mode %v", name, st.Mode().Perm())
		}
	}
	b := newFixture(t, dir)
	if !slices.Equal(jwksKids(t, b), kidsA) || b.idp.subject(c) != subA {
		t.Fatal("a second IdP on the same data folder has other keys or subs")
	}
	if err := b.idp.RotateKey(); err != nil {
		t.Fatal(err)
	}
	rotated := jwksKids(t, b)
	cAfter := newFixture(t, dir)
	if !slices.Equal(jwksKids(t, cAfter), rotated) {
		t.Fatal("the rotation was not saved")
	}
	other := newFixture(t, t.TempDir())
	if other.idp.subject(c) == subA {
		t.Fatal("two data folders give the same sub")
	}
}

func TestNewValidatesClients(t *testing.T) {
	env := simenv.Env{PublicURL: "http://127.0.0.1:1"}
	tests := []struct {
		name    string
		env     simenv.Env
		clients []Client
	}{
		{"no id", env, []Client{{RedirectURIs: []string{"https://rp.example/cb"}}}},
		{"duplicate id", env, []Client{{ID: "a", RedirectURIs: []string{"https://rp.example/cb"}}, {ID: "a", RedirectURIs: []string{"https://rp.example/cb"}}}},
		{"no redirect URI", env, []Client{{ID: "a"}}},
		{"relative redirect URI", env, []Client{{ID: "a", RedirectURIs: []string{"/cb"}}}},
		{"redirect URI with fragment", env, []Client{{ID: "a", RedirectURIs: []string{"https://rp.example/cb#x"}}}},
		{"no public URL", simenv.Env{}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.env, tc.clients); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestEndSessionAndFaults(t *testing.T) {
	f := newFixture(t, t.TempDir())
	p := f.provider(t)
	_, tok := f.flow(t, p, "c001")
	resp, body := f.get(t, f.idp.Issuer()+"/end_session?id_token_hint="+url.QueryEscape(tok.Extra("id_token").(string)))
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("end_session %d %s", resp.StatusCode, body)
	}
	resp, body = f.get(t, resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "退出") {
		t.Fatalf("logged-out page %d", resp.StatusCode)
	}
	if _, err := p.UserInfo(f.ctx(t), oauth2.StaticTokenSource(tok)); err == nil {
		t.Fatal("the access token survived end_session")
	}

	f.faults.Add(fault.Rule{Vendor: Host, Path: "/oauth/token", Code: "temporarily_unavailable", Count: 1})
	conf := f.config(p, gatewayID, gatewaySecret)
	// Auto-detection would retry a failed exchange with the other style.
	conf.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	c, _ := f.reg.ByKey("c002")
	v := oauth2.GenerateVerifier()
	u := f.signIn(t, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v)), c.IDNumber, SandboxPassword)
	_, err := conf.Exchange(f.ctx(t), u.Query().Get("code"), oauth2.VerifierOption(v))
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response.StatusCode != http.StatusServiceUnavailable || re.ErrorCode != "temporarily_unavailable" {
		t.Fatalf("err = %v", err)
	}
	if _, err := conf.Exchange(f.ctx(t), u.Query().Get("code"), oauth2.VerifierOption(v)); err != nil {
		t.Fatalf("after the fault: %v", err)
	}
}
