package oidclogin_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/shiming-id/shiming/gateway/config"
	jt "github.com/shiming-id/shiming/gateway/journey/journeytest"
	"github.com/shiming-id/shiming/gateway/oidclogin"
)

// badIdP is a small OpenID provider whose answers a test bends: the
// state it sends back, the ID token's claims and signature, the
// userinfo subject. Untouched, it signs in 张伟 with trusted claims.
type badIdP struct {
	srv         *httptest.Server
	clock       *jt.Clock
	down        atomic.Bool
	jwksFetches atomic.Int32
	mu          sync.Mutex
	nonces      map[string]string // code -> nonce of its authorization request

	// keys are the signing keys by kid; published lists the kids the
	// JWKS serves, signWith the kid of the next ID token.
	keys      map[string]*rsa.PrivateKey
	published []string
	signWith  string

	// Hooks; zero values leave the answer alone.
	state       func(state string) (value string, present bool)
	extra       url.Values
	claims      func(c map[string]any)
	unsigned    bool
	hs256       bool            // sign with HS256 under the client secret
	forge       *rsa.PrivateKey // sign with this key under signWith's kid
	noKid       bool            // leave kid out of the header
	userinfo    func(c map[string]any)
	tokenErr    bool
	discoIssuer string // the issuer the discovery document claims
}

func newBadIdP(t *testing.T, clock *jt.Clock) *badIdP {
	t.Helper()
	p := &badIdP{clock: clock, nonces: map[string]string{}, keys: map[string]*rsa.PrivateKey{"k1": newKey(t)}, published: []string{"k1"}, signWith: "k1"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("GET /userinfo", p.info)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func newKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func (p *badIdP) issuer() string { return p.srv.URL }

// bend changes the IdP's behaviour under its lock.
func (p *badIdP) bend(f func(p *badIdP)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

// rotate adds a signing key kid, publishes it first beside the others
// and signs with it from now on, as an IdP rolling its key over does.
func (p *badIdP) rotate(t *testing.T, kid string) {
	key := newKey(t)
	p.bend(func(p *badIdP) {
		p.keys[kid] = key
		p.published = append([]string{kid}, p.published...)
		p.signWith = kid
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (p *badIdP) discovery(w http.ResponseWriter, _ *http.Request) {
	p.mu.Lock()
	issuer := p.discoIssuer
	p.mu.Unlock()
	if issuer == "" {
		issuer = p.issuer()
	}
	writeJSON(w, map[string]any{
		"issuer": issuer, "authorization_endpoint": p.issuer() + "/authorize", "token_endpoint": p.issuer() + "/token",
		"jwks_uri": p.issuer() + "/jwks", "userinfo_endpoint": p.issuer() + "/userinfo",
		"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"}, "code_challenge_methods_supported": []string{"S256"},
	})
}

func (p *badIdP) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	code := "code-" + base64.RawURLEncoding.EncodeToString([]byte(q.Get("nonce")))[:8]
	p.mu.Lock()
	p.nonces[code] = q.Get("nonce")
	p.mu.Unlock()
	back := url.Values{"code": {code}}
	state, present := q.Get("state"), true
	p.mu.Lock()
	if p.state != nil {
		state, present = p.state(state)
	}
	if present {
		back.Set("state", state)
	}
	for k, v := range p.extra {
		back[k] = v
	}
	p.mu.Unlock()
	http.Redirect(w, r, q.Get("redirect_uri")+"?"+back.Encode(), http.StatusFound)
}

// token answers every code it ever issued, as often as asked and
// without checking the PKCE verifier: a misbehaving IdP, so that only
// the gateway's own checks stand between a replayed code and a session.
func (p *badIdP) token(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := r.ParseForm(); err != nil || p.tokenErr {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant"})
		return
	}
	nonce := p.nonces[r.PostForm.Get("code")]
	now := p.clock.Now()
	c := map[string]any{
		"iss": p.issuer(), "sub": "citizen-1", "aud": clientID, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"nonce": nonce, "name": jt.ZhangWei.Name, "id_number": jt.ZhangWei.IDNumber, "real_name_verified": true,
	}
	if p.claims != nil {
		p.claims(c)
	}
	payload, _ := json.Marshal(c)
	var tok string
	if p.unsigned {
		tok = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + base64.RawURLEncoding.EncodeToString(payload) + "."
	} else {
		tok = p.sign(payload)
	}
	writeJSON(w, map[string]any{"access_token": "at-1", "token_type": "Bearer", "expires_in": 300, "id_token": tok})
}

// sign signs payload as the hooks say; the caller holds p.mu.
func (p *badIdP) sign(payload []byte) string {
	key := jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: p.keys[p.signWith], KeyID: p.signWith}}
	switch {
	case p.hs256:
		key = jose.SigningKey{Algorithm: jose.HS256, Key: jose.JSONWebKey{Key: []byte(strings.Repeat(clientSecret, 3)), KeyID: p.signWith}}
	case p.forge != nil:
		key.Key = jose.JSONWebKey{Key: p.forge, KeyID: p.signWith}
	case p.noKid:
		key.Key = p.keys[p.signWith]
	}
	sig, err := jose.NewSigner(key, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		panic(err)
	}
	obj, err := sig.Sign(payload)
	if err != nil {
		panic(err)
	}
	tok, err := obj.CompactSerialize()
	if err != nil {
		panic(err)
	}
	return tok
}

func (p *badIdP) jwks(w http.ResponseWriter, _ *http.Request) {
	p.jwksFetches.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	var set jose.JSONWebKeySet
	for _, kid := range p.published {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &p.keys[kid].PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"})
	}
	writeJSON(w, set)
}

func (p *badIdP) info(w http.ResponseWriter, _ *http.Request) {
	c := map[string]any{"sub": "citizen-1", "name": jt.ZhangWei.Name, "id_number": jt.ZhangWei.IDNumber, "real_name_verified": true}
	p.mu.Lock()
	if p.userinfo != nil {
		p.userinfo(c)
	}
	p.mu.Unlock()
	writeJSON(w, c)
}

func badHarness(t *testing.T) (*jt.Harness, *badIdP) {
	t.Helper()
	clock := jt.NewClock(time.Now())
	idp := newBadIdP(t, clock)
	h := jt.New(t, jt.Options{Clock: clock, OIDC: func(string) []config.Issuer {
		return []config.Issuer{{ID: "fake", Name: "测试政务服务网", IssuerURL: idp.issuer(), ClientID: clientID, ClientSecret: clientSecret,
			RealNameClaims: config.RealNameClaims{Name: "name", IDNumber: "id_number", Level: "name_id", Require: "real_name_verified"}}}
	}})
	h.CreateAccount(jt.ZhangWei, pw)
	return h, idp
}

// TestRefusals runs the relying-party cases of the OpenID conformance
// suite (the module's old rp-* name first; local cases say "local")
// against an IdP that misbehaves on purpose. Each is refused with a page
// that says what to do, counted once under its reason, and signs no one
// in.
func TestRefusals(t *testing.T) {
	tests := []struct {
		name   string
		bend   func(p *badIdP)
		reason string
	}{
		{"rp-nonce-invalid: wrong nonce", func(p *badIdP) { p.claims = func(c map[string]any) { c["nonce"] = "replayed-nonce" } }, "nonce"},
		{"fapi1-invalid-missing-nonce: no nonce", func(p *badIdP) { p.claims = func(c map[string]any) { delete(c, "nonce") } }, "nonce"},
		{"fapi1-invalid-state-fails: wrong state", func(p *badIdP) { p.state = func(string) (string, bool) { return "forged-state", true } }, "state"},
		{"local: no state", func(p *badIdP) { p.state = func(string) (string, bool) { return "", false } }, "state"},
		{"fapi2-invalid-authorization-response-iss: iss of another issuer", func(p *badIdP) { p.extra = url.Values{"iss": {"https://idp.example"}} }, "state"},
		{"rp-id_token-sub: no sub", func(p *badIdP) { p.claims = func(c map[string]any) { delete(c, "sub") } }, "token"},
		{"rp-id_token-iat: no iat", func(p *badIdP) { p.claims = func(c map[string]any) { delete(c, "iat") } }, "token"},
		{"local: iat in the future", func(p *badIdP) {
			p.claims = func(c map[string]any) {
				c["iat"] = p.clock.Now().Add(oidclogin.MaxIssuedAtSkew + time.Minute).Unix()
				c["exp"] = p.clock.Now().Add(time.Hour).Unix()
			}
		}, "token"},
		{"rp-id_token-aud: wrong audience", func(p *badIdP) { p.claims = func(c map[string]any) { c["aud"] = "another-client" } }, "token"},
		{"oidcc-client-test-missing-aud: no audience", func(p *badIdP) { p.claims = func(c map[string]any) { delete(c, "aud") } }, "token"},
		{"rp-id_token-issuer-mismatch: wrong issuer", func(p *badIdP) { p.claims = func(c map[string]any) { c["iss"] = "https://idp.example" } }, "token"},
		{"fapi1-invalid-expired-exp: expired", func(p *badIdP) {
			p.claims = func(c map[string]any) { c["exp"] = p.clock.Now().Add(-time.Minute).Unix() }
		}, "token"},
		{"rp-id_token-sig-none: unsigned (alg none)", func(p *badIdP) { p.unsigned = true }, "token"},
		{"rp-id_token-bad-sig-rs256: signed by another key under the IdP's kid", func(p *badIdP) { p.forge = newKey(t) }, "token"},
		{"rp-id_token-bad-sig-hs256: HS256, not on the allow-list", func(p *badIdP) { p.hs256 = true }, "token"},
		{"rp-userinfo-bad-sub-claim: userinfo sub differs", func(p *badIdP) {
			p.claims = func(c map[string]any) { delete(c, "id_number") }
			p.userinfo = func(c map[string]any) { c["sub"] = "citizen-2" }
		}, "token"},
		{"local: token endpoint refuses", func(p *badIdP) { p.tokenErr = true }, "exchange"},
		{"rp-discovery-issuer-not-matching-config: discovery names another issuer", func(p *badIdP) {
			p.discoIssuer = "https://idp.example"
		}, "discovery"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, idp := badHarness(t)
			idp.bend(tc.bend)
			b := h.Browser()
			p := b.Get("/hunanpea/oidc/fake/start")
			if p.Status == http.StatusOK || p.Attr("signed-in") != "" || !p.HasErrorKind("oidc_"+tc.reason) {
				t.Fatalf("status %d page %q kinds %v", p.Status, p.Name(), p.ErrorKinds())
			}
			if p.Step() != "oidc_refused" || !p.Contains("政务服务网登录未完成") || !p.Contains(`href="/hunanpea/login"`) {
				t.Fatalf("the refusal page does not explain what to do: step %q", p.Step())
			}
			for _, reason := range []string{"state", "nonce", "token", "exchange", "discovery"} {
				want := 0.0
				if reason == tc.reason {
					want = 1
				}
				if got := h.Counter("shiming_oidc_refusals_total", "issuer", "fake", "reason", reason); got != want {
					t.Errorf("refusals %s = %v, want %v", reason, got, want)
				}
			}
			if p := b.Get("/hunanpea/home"); p.Name() != "login" {
				t.Fatal("signed in after a refusal")
			}
		})
	}
}

// TestIssuedAtSkew accepts an iat a little ahead of our clock (the
// issuer's clock runs fast) and refuses one beyond MaxIssuedAtSkew.
func TestIssuedAtSkew(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ahead time.Duration
		ok    bool
	}{
		{"a minute ahead", time.Minute, true},
		{"at the allowance", oidclogin.MaxIssuedAtSkew, true},
		{"past the allowance", oidclogin.MaxIssuedAtSkew + time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, idp := badHarness(t)
			idp.bend(func(p *badIdP) {
				p.claims = func(c map[string]any) {
					c["iat"] = p.clock.Now().Add(tc.ahead).Unix()
					c["exp"] = p.clock.Now().Add(time.Hour).Unix()
				}
			})
			b := h.Browser()
			p := b.Get("/hunanpea/oidc/fake/start")
			if got := p.Name() == "home"; got != tc.ok {
				t.Fatalf("signed in = %v, want %v (kinds %v)", got, tc.ok, p.ErrorKinds())
			}
		})
	}
}

// TestKeyRotation is rp-key-rotation-op-sign-key: the IdP signs with a
// new kid, the gateway fetches the key set again and signs the candidate
// in; a token still signed with the old key verifies until it expires;
// a kid-less token verifies against a single-key set.
func TestKeyRotation(t *testing.T) {
	h, idp := badHarness(t)
	login := func() *jt.Page {
		b := h.Browser()
		return b.Get("/hunanpea/oidc/fake/start")
	}
	if p := login(); p.Name() != "home" {
		t.Fatalf("first login: %v", p.ErrorKinds())
	}
	if n := idp.jwksFetches.Load(); n != 1 {
		t.Fatalf("%d key set fetches for the first login", n)
	}
	idp.rotate(t, "k2")
	if p := login(); p.Name() != "home" {
		t.Fatalf("login after the rotation: %v", p.ErrorKinds())
	}
	if n := idp.jwksFetches.Load(); n != 2 {
		t.Fatalf("the new kid did not make the gateway fetch the keys again (%d fetches)", n)
	}
	t.Run("a token of the old key verifies until it expires", func(t *testing.T) {
		idp.bend(func(p *badIdP) { p.signWith = "k1" })
		if p := login(); p.Name() != "home" {
			t.Fatalf("old-key token refused: %v", p.ErrorKinds())
		}
		idp.bend(func(p *badIdP) {
			p.claims = func(c map[string]any) {
				c["iat"] = p.clock.Now().Add(-10 * time.Minute).Unix()
				c["exp"] = p.clock.Now().Add(-time.Second).Unix()
			}
		})
		if p := login(); !p.HasErrorKind("oidc_token") {
			t.Fatalf("an expired old-key token was accepted: %q %v", p.Name(), p.ErrorKinds())
		}
		if n := idp.jwksFetches.Load(); n != 2 {
			t.Fatalf("%d fetches: known keys were fetched again", n)
		}
	})
	t.Run("rp-id_token-kid-absent-single-jwks", func(t *testing.T) {
		h, idp := badHarness(t)
		idp.bend(func(p *badIdP) { p.noKid = true })
		b := h.Browser()
		if p := b.Get("/hunanpea/oidc/fake/start"); p.Name() != "home" {
			t.Fatalf("kid-less token refused: %v", p.ErrorKinds())
		}
	})
}

// TestCodeReplay replays an authorization code at an IdP that would
// redeem it again (no single use, no PKCE check): after it was redeemed,
// in a new transaction; and before its own browser redeemed it, injected
// into an attacker's transaction. The
// ID token then carries the nonce of the code's own transaction, which
// the gateway refuses (RFC 9700 §4.5.3.2); replaying the whole callback
// fails the state check.
func TestCodeReplay(t *testing.T) {
	h, _ := badHarness(t)
	// callbackOf starts a login in b and returns the IdP's redirect back
	// to the gateway without following it.
	callbackOf := func(b *jt.Browser) *url.URL {
		t.Helper()
		b.Client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
			if strings.HasPrefix(req.URL.Path, "/oidc/") {
				return http.ErrUseLastResponse
			}
			return nil
		}
		defer func() { b.Client.CheckRedirect = nil }()
		p := b.Get("/hunanpea/oidc/fake/start")
		u, err := url.Parse(p.Header.Get("Location"))
		if p.Status != http.StatusFound || err != nil || u.Query().Get("code") == "" {
			t.Fatalf("no callback redirect: %d %q", p.Status, p.Header.Get("Location"))
		}
		return u
	}
	withCode := func(cb *url.URL, code string) string {
		q := cb.Query()
		q.Set("code", code)
		u := *cb
		u.RawQuery = q.Encode()
		return u.String()
	}

	victim := h.Browser()
	stolen := callbackOf(victim)
	victim.Expect(victim.Get(stolen.String()), "home")

	t.Run("the whole callback replayed", func(t *testing.T) {
		p := victim.Get(stolen.String())
		if p.Status != http.StatusBadRequest || !p.HasErrorKind("oidc_state") {
			t.Fatalf("status %d kinds %v", p.Status, p.ErrorKinds())
		}
	})
	t.Run("a redeemed code replayed in a new transaction", func(t *testing.T) {
		b := h.Browser()
		mine := callbackOf(b)
		p := b.Get(withCode(mine, stolen.Query().Get("code")))
		if !p.HasErrorKind("oidc_nonce") || p.Attr("signed-in") != "" {
			t.Fatalf("status %d kinds %v", p.Status, p.ErrorKinds())
		}
	})
	t.Run("a code injected into another browser's transaction", func(t *testing.T) {
		attacker, target := h.Browser(), h.Browser()
		code := callbackOf(target).Query().Get("code") // never redeemed by its browser
		p := attacker.Get(withCode(callbackOf(attacker), code))
		if !p.HasErrorKind("oidc_nonce") {
			t.Fatalf("status %d kinds %v", p.Status, p.ErrorKinds())
		}
		if p := attacker.Get("/hunanpea/home"); p.Name() != "login" {
			t.Fatal("the attacker's browser is signed in")
		}
	})
	if got := h.Counter("shiming_oidc_refusals_total", "issuer", "fake", "reason", "nonce"); got != 2 {
		t.Fatalf("nonce refusals %v", got)
	}
	if got := h.Counter("shiming_oidc_refusals_total", "issuer", "fake", "reason", "state"); got != 1 {
		t.Fatalf("state refusals %v", got)
	}
}

func TestFakeIdPSignsIn(t *testing.T) {
	h, idp := badHarness(t)
	b := h.Browser()
	b.Expect(b.Get("/hunanpea/oidc/fake/start"), "home")
	t.Run("userinfo fills claims the ID token lacks", func(t *testing.T) {
		idp.claims = func(c map[string]any) { delete(c, "id_number"); c["sub"] = "citizen-9" }
		idp.userinfo = func(c map[string]any) { c["sub"] = "citizen-9" }
		b := h.Browser()
		b.Expect(b.Get("/hunanpea/oidc/fake/start"), "home")
	})
}

func TestIssuerDownAtStart(t *testing.T) {
	h, idp := badHarness(t)
	idp.down.Store(true)
	b := h.Browser()
	p := b.Get("/hunanpea/oidc/fake/start")
	if p.Status != http.StatusBadGateway || !p.HasErrorKind("oidc_discovery") {
		t.Fatalf("status %d kinds %v", p.Status, p.ErrorKinds())
	}
	// The rest of the gateway works meanwhile.
	b.Expect(b.Get("/hunanpea/login"), "login")
	idp.down.Store(false)
	h.Clock.Advance(10 * time.Second)
	b.Expect(b.Get("/hunanpea/oidc/fake/start"), "home")
	if got := h.Counter("shiming_oidc_refusals_total", "issuer", "fake", "reason", "discovery"); got != 1 {
		t.Fatalf("discovery refusals %v", got)
	}
}

// TestOIDCSignInRotatesTheSession signs in through the portal from a
// browser whose cookie an attacker fixed: the browser ends with a new
// session id and the fixed cookie signs no one in (ASVS 7.2.4).
func TestOIDCSignInRotatesTheSession(t *testing.T) {
	h, _ := badHarness(t)
	u, _ := url.Parse(h.URL)
	cookie := func(b *jt.Browser) string {
		for _, c := range b.Client.Jar.Cookies(u) {
			if c.Name == h.Sessions.CookieName() {
				return c.Value
			}
		}
		return ""
	}
	attacker, victim := h.Browser(), h.Browser()
	attacker.Expect(attacker.Post("/hunanpea/realname/start", nil), "realname_choose")
	victim.Client.Jar.SetCookies(u, attacker.Client.Jar.Cookies(u))
	fixed := cookie(victim)
	if fixed == "" {
		t.Fatal("no cookie planted")
	}
	victim.Expect(victim.Get("/hunanpea/oidc/fake/start"), "home")
	if now := cookie(victim); now == "" || now == fixed {
		t.Fatal("the OIDC sign-in kept the session id")
	}
	if p := attacker.Get("/hunanpea/home"); p.Name() != "login" {
		t.Fatal("the fixed cookie is signed in")
	}
}
