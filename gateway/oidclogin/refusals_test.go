package oidclogin_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/shiming-id/shiming/gateway/config"
	jt "github.com/shiming-id/shiming/gateway/journey/journeytest"
)

// badIdP is a small OpenID provider whose answers a test bends: the
// state it sends back, the ID token's claims and signature, the
// userinfo subject. Untouched, it signs in 张伟 with trusted claims.
type badIdP struct {
	srv    *httptest.Server
	key    *rsa.PrivateKey
	clock  *jt.Clock
	down   atomic.Bool
	mu     sync.Mutex
	nonces map[string]string // code -> nonce of its authorization request

	// Hooks; nil leaves the answer alone.
	state    func(state string) (value string, present bool)
	extra    url.Values
	claims   func(c map[string]any)
	unsigned bool
	userinfo func(c map[string]any)
	tokenErr bool
}

func newBadIdP(t *testing.T, clock *jt.Clock) *badIdP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &badIdP{key: key, clock: clock, nonces: map[string]string{}}
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

func (p *badIdP) issuer() string { return p.srv.URL }

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (p *badIdP) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, map[string]any{
		"issuer": p.issuer(), "authorization_endpoint": p.issuer() + "/authorize", "token_endpoint": p.issuer() + "/token",
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
	if p.state != nil {
		state, present = p.state(state)
	}
	if present {
		back.Set("state", state)
	}
	for k, v := range p.extra {
		back[k] = v
	}
	http.Redirect(w, r, q.Get("redirect_uri")+"?"+back.Encode(), http.StatusFound)
}

func (p *badIdP) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || p.tokenErr {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant"})
		return
	}
	p.mu.Lock()
	nonce := p.nonces[r.PostForm.Get("code")]
	p.mu.Unlock()
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
		sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: p.key, KeyID: "k1"}},
			(&jose.SignerOptions{}).WithType("JWT"))
		if err != nil {
			panic(err)
		}
		obj, err := sig.Sign(payload)
		if err != nil {
			panic(err)
		}
		if tok, err = obj.CompactSerialize(); err != nil {
			panic(err)
		}
	}
	writeJSON(w, map[string]any{"access_token": "at-1", "token_type": "Bearer", "expires_in": 300, "id_token": tok})
}

func (p *badIdP) jwks(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &p.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
}

func (p *badIdP) info(w http.ResponseWriter, _ *http.Request) {
	c := map[string]any{"sub": "citizen-1", "name": jt.ZhangWei.Name, "id_number": jt.ZhangWei.IDNumber, "real_name_verified": true}
	if p.userinfo != nil {
		p.userinfo(c)
	}
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

func TestRefusals(t *testing.T) {
	tests := []struct {
		name   string
		bend   func(p *badIdP)
		reason string
	}{
		{"wrong nonce", func(p *badIdP) { p.claims = func(c map[string]any) { c["nonce"] = "replayed-nonce" } }, "nonce"},
		{"no nonce", func(p *badIdP) { p.claims = func(c map[string]any) { delete(c, "nonce") } }, "nonce"},
		{"wrong state", func(p *badIdP) { p.state = func(string) (string, bool) { return "forged-state", true } }, "state"},
		{"no state", func(p *badIdP) { p.state = func(string) (string, bool) { return "", false } }, "state"},
		{"iss of another issuer", func(p *badIdP) { p.extra = url.Values{"iss": {"https://idp.example"}} }, "state"},
		{"no sub", func(p *badIdP) { p.claims = func(c map[string]any) { delete(c, "sub") } }, "token"},
		{"no iat", func(p *badIdP) { p.claims = func(c map[string]any) { delete(c, "iat") } }, "token"},
		{"wrong audience", func(p *badIdP) { p.claims = func(c map[string]any) { c["aud"] = "another-client" } }, "token"},
		{"wrong issuer", func(p *badIdP) { p.claims = func(c map[string]any) { c["iss"] = "https://idp.example" } }, "token"},
		{"expired", func(p *badIdP) {
			p.claims = func(c map[string]any) { c["exp"] = p.clock.Now().Add(-time.Minute).Unix() }
		}, "token"},
		{"unsigned (alg none)", func(p *badIdP) { p.unsigned = true }, "token"},
		{"userinfo sub differs", func(p *badIdP) {
			p.claims = func(c map[string]any) { delete(c, "id_number") }
			p.userinfo = func(c map[string]any) { c["sub"] = "citizen-2" }
		}, "token"},
		{"token endpoint refuses", func(p *badIdP) { p.tokenErr = true }, "exchange"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, idp := badHarness(t)
			tc.bend(idp)
			b := h.Browser()
			p := b.Get("/hunanpea/oidc/fake/start")
			if p.Status == http.StatusOK || p.Attr("signed-in") != "" || !p.HasErrorKind("oidc_"+tc.reason) {
				t.Fatalf("status %d page %q kinds %v", p.Status, p.Name(), p.ErrorKinds())
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
