package oidclogin_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/govidp"
	"github.com/shiming-id/shiming/contrib/sandbox/simenv"
	"github.com/shiming-id/shiming/gateway/config"
	jt "github.com/shiming-id/shiming/gateway/journey/journeytest"
)

const (
	clientID     = "shiming"
	clientSecret = "gateway-secret"
	pw           = "Kaoshi2026ok"
)

// sandboxIdP starts the sandbox government IdP for a gateway at gw.
func sandboxIdP(t *testing.T, clock *jt.Clock, gw string) *govidp.IdP {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	idp, err := govidp.New(simenv.Env{Now: clock.Now, PublicURL: base}, []govidp.Client{
		{ID: clientID, Secret: clientSecret, RedirectURIs: []string{gw + "/oidc/gov/callback"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for host, h := range idp.Routes() {
		mux.Handle("/"+host+"/", http.StripPrefix("/"+host, h))
	}
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)
	return idp
}

// govHarness runs the journeys with the sandbox IdP as issuer "gov";
// trust says whether its real-name claims count as evidence.
func govHarness(t *testing.T, trust bool) *jt.Harness {
	t.Helper()
	clock := jt.NewClock(time.Now())
	return jt.New(t, jt.Options{Clock: clock, OIDC: func(gw string) []config.Issuer {
		idp := sandboxIdP(t, clock, gw)
		iss := config.Issuer{ID: "gov", Name: "湖南省政务服务网", IssuerURL: idp.Issuer(), ClientID: clientID, ClientSecret: clientSecret,
			Scopes: []string{"openid", "profile", govidp.ScopeRealName}}
		if trust {
			iss.RealNameClaims = config.RealNameClaims{Name: "name", IDNumber: govidp.ClaimIDNumber, Level: "name_id", Require: govidp.ClaimRealNameVerified}
		}
		return []config.Issuer{iss}
	}})
}

var authRequestRE = regexp.MustCompile(`name="authRequestID" value="([^"]+)"`)
var actionRE = regexp.MustCompile(`<form method="post" action="([^"]+)"`)

// govLogin clicks 政务服务网登录 and signs in at the IdP as p; it returns
// the gateway page the IdP sends the browser back to.
func govLogin(t *testing.T, b *jt.Browser, p jt.Person) *jt.Page {
	t.Helper()
	login := b.Get("/hunanpea/oidc/gov/start")
	m, a := authRequestRE.FindStringSubmatch(login.Body), actionRE.FindStringSubmatch(login.Body)
	if login.Status != http.StatusOK || m == nil || a == nil {
		t.Fatalf("IdP login page: %d %s", login.Status, login.URL)
	}
	q := login.URL.Query()
	if q.Get("authRequestID") == "" {
		t.Fatalf("login page URL %s", login.URL)
	}
	return b.Post(a[1], url.Values{"authRequestID": {m[1]}, "id_number": {p.IDNumber}, "password": {govidp.SandboxPassword}})
}

func TestGovLoginLinksByTrustedClaims(t *testing.T) {
	h := govHarness(t, true)
	a := h.CreateAccount(jt.ZhangWei, pw)
	b := h.Browser()
	portal := b.Expect(b.Get("/hunanpea/"), "portal")
	if !slices.Contains(portal.Attrs("issuer"), "gov") || !portal.Contains("湖南省政务服务网登录") {
		t.Fatal("no 政务服务网登录 button")
	}
	home := b.Expect(govLogin(t, b, jt.ZhangWei), "home")
	if home.Attr("signed-in") != "1" || !home.Contains("湖南省政务服务网") {
		t.Fatal("not signed in, or the evidence is not shown")
	}
	links, err := h.Accounts.Links(context.Background(), a.ID)
	if err != nil || len(links) != 1 || links[0].Provider != "oidc:gov" || links[0].Subject == "" {
		t.Fatalf("links %v, %v", links, err)
	}
	// The second login finds the account by the link.
	b.Expect(b.Post("/hunanpea/logout", nil), "message")
	b.Expect(govLogin(t, b, jt.ZhangWei), "home")
	if got := h.Counter("shiming_logins_total", "portal", "hunanpea", "method", "oidc", "outcome", "success"); got != 2 {
		t.Fatalf("oidc successes %v", got)
	}
	ev, _ := h.Accounts.Evidence(context.Background(), a.ID)
	if n := len(ev); n != 2 {
		t.Fatalf("evidence %v", ev)
	}
}

func TestGovLoginStartsARegistration(t *testing.T) {
	h := govHarness(t, true)
	b := h.Browser()
	phone := b.Expect(govLogin(t, b, jt.LiNa), "realname_phone")
	if !phone.Contains("李*") || !phone.Contains("430***********2465") {
		t.Fatal("the phone step does not show the claimed identity")
	}
	base := jt.FlowBase(phone)
	if p := b.Get(base + "identity"); p.Path() != base+"phone" {
		t.Fatalf("the identity step was not skipped: %s", p.URL)
	}
	b.Expect(h.BindPhone(b, base, jt.LiNa.Phone), "face")
	b.Expect(h.PassFace(b, base+"face", "ctid"), "realname_password")
	b.Expect(h.SetPassword(b, base, pw), "login")
	a, err := h.Accounts.ByIDNumber(context.Background(), jt.LiNa.IDNumber)
	if err != nil {
		t.Fatal(err)
	}
	links, _ := h.Accounts.Links(context.Background(), a.ID)
	if len(links) != 1 || links[0].Provider != "oidc:gov" {
		t.Fatalf("links %v", links)
	}
	if got := h.Counter("shiming_realname_flows_total", "portal", "hunanpea", "provider", "oidc", "outcome", "completed"); got != 1 {
		t.Fatalf("completed %v", got)
	}
	// Now the portal login finds the account at once.
	c := h.Browser()
	c.Expect(govLogin(t, c, jt.LiNa), "home")
}

func TestGovLoginUntrustedClaims(t *testing.T) {
	h := govHarness(t, false)
	h.CreateAccount(jt.ZhangWei, pw)
	b := h.Browser()
	p := b.Expect(govLogin(t, b, jt.ZhangWei), "message")
	if !p.HasErrorKind("not_linked") || !p.Contains(`href="/hunanpea/realname/"`) || p.Attr("signed-in") != "" {
		t.Fatalf("kinds %v", p.ErrorKinds())
	}
	if got := h.Counter("shiming_logins_total", "portal", "hunanpea", "method", "oidc", "outcome", "not_linked"); got != 1 {
		t.Fatalf("not_linked %v", got)
	}
}

func TestGovLoginReplayedCallback(t *testing.T) {
	h := govHarness(t, true)
	h.CreateAccount(jt.ZhangWei, pw)
	b := h.Browser()
	b.Client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Path == "/oidc/gov/callback" {
			return http.ErrUseLastResponse
		}
		return nil
	}
	resp := govLogin(t, b, jt.ZhangWei)
	cb := resp.Header.Get("Location")
	if resp.Status != http.StatusFound || cb == "" {
		t.Fatalf("IdP answer %d", resp.Status)
	}
	b.Client.CheckRedirect = nil
	b.Expect(b.Get(cb), "home")
	again := b.Get(cb)
	if again.Status != http.StatusBadRequest || !again.HasErrorKind("oidc_state") {
		t.Fatalf("replayed callback: %d %v", again.Status, again.ErrorKinds())
	}
}
