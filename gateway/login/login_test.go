package login_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/shiming-id/shiming/gateway/account"
	"github.com/shiming-id/shiming/gateway/config"
	jt "github.com/shiming-id/shiming/gateway/journey/journeytest"
	"github.com/shiming-id/shiming/gateway/store"
)

const pw = "Kaoshi2026ok"

func passwordLogin(b *jt.Browser, p jt.Person, password string) *jt.Page {
	return b.Post("/hunanpea/login/password", url.Values{"id_number": {p.IDNumber}, "password": {password}})
}

func smsLogin(t *testing.T, h *jt.Harness, b *jt.Browser, phone string) *jt.Page {
	t.Helper()
	p := b.Expect(b.Post("/hunanpea/login/sms", url.Values{"action": {"send"}, "phone": {phone}}), "login")
	if p.Attr("sms-sent") != "1" {
		t.Fatalf("no code sent: %v", p.ErrorKinds())
	}
	code, _ := h.Providers.SMS["sms"].LastCode(phone)
	return b.Post("/hunanpea/login/sms", url.Values{"action": {"verify"}, "phone": {phone}, "code": {code}})
}

func logins(h *jt.Harness, method, outcome string) float64 {
	return h.Counter("shiming_logins_total", "portal", "hunanpea", "method", method, "outcome", outcome)
}

func TestPasswordLogin(t *testing.T) {
	limits := config.Default().Limits
	limits.LockoutAfter = 5
	h := jt.New(t, jt.Options{Limits: &limits})
	a := h.CreateAccount(jt.ZhangWei, pw)
	b := h.Browser()

	t.Run("wrong password", func(t *testing.T) {
		for range 3 {
			p := b.Expect(passwordLogin(b, jt.ZhangWei, "Wrong2026pw"), "login")
			if !p.HasErrorKind("wrong_credentials") || p.Contains("Wrong2026pw") {
				t.Fatalf("kinds %v", p.ErrorKinds())
			}
		}
		if got := logins(h, "password", "wrong_credentials"); got != 3 {
			t.Fatalf("wrong_credentials %v", got)
		}
	})
	t.Run("a growing delay, then the lockout", func(t *testing.T) {
		p := b.Expect(passwordLogin(b, jt.ZhangWei, pw), "login")
		if !p.HasErrorKind("rate_limited") || !p.Contains("1 秒后再试") {
			t.Fatalf("after three failures: %v", p.ErrorKinds())
		}
		h.Clock.Advance(time.Second)
		b.Expect(passwordLogin(b, jt.ZhangWei, "Wrong2026pw"), "login")
		p = b.Expect(passwordLogin(b, jt.ZhangWei, pw), "login")
		if !p.HasErrorKind("rate_limited") || !p.Contains("2 秒后再试") {
			t.Fatalf("after four failures: %v", p.ErrorKinds())
		}
		h.Clock.Advance(2 * time.Second)
		b.Expect(passwordLogin(b, jt.ZhangWei, "Wrong2026pw"), "login")
		h.Clock.Advance(time.Minute)
		p = b.Expect(passwordLogin(b, jt.ZhangWei, pw), "login")
		if !p.HasErrorKind("locked") || !p.Contains("验码登录") {
			t.Fatalf("after five failures the right password: %v", p.ErrorKinds())
		}
		if got := logins(h, "password", "locked"); got != 1 {
			t.Fatalf("locked %v", got)
		}
	})
	t.Run("an SMS login lifts the lockout", func(t *testing.T) {
		home := b.Expect(smsLogin(t, h, b, jt.ZhangWei.Phone), "home")
		if home.Attr("signed-in") != "1" || !home.Contains("张*") || !home.Contains("430***********1235") || !home.Contains("138****1001") {
			t.Fatal("home does not show the masked account")
		}
		if home.Contains(jt.ZhangWei.IDNumber) || home.Contains(jt.ZhangWei.Phone) {
			t.Fatal("home shows unmasked data")
		}
		b.Expect(b.Post("/hunanpea/logout", nil), "message")
		b.Expect(passwordLogin(b, jt.ZhangWei, pw), "home")
		if got := logins(h, "password", "success"); got != 1 {
			t.Fatalf("password successes %v", got)
		}
	})
	t.Run("sign-in gives a new session and is audited", func(t *testing.T) {
		other := h.Browser()
		other.Expect(other.Get("/hunanpea/login"), "login")
		before := cookie(t, other, h)
		other.Expect(passwordLogin(other, jt.ZhangWei, pw), "home")
		if after := cookie(t, other, h); after == "" || after == before {
			t.Fatal("the session id was not renewed at sign-in")
		}
		recs, err := h.Store.ListAudit(context.Background(), 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if n := count(recs, "login", a.ID); n < 3 {
			t.Fatalf("%d login records", n)
		}
	})
}

func cookie(t *testing.T, b *jt.Browser, h *jt.Harness) string {
	t.Helper()
	u, _ := url.Parse(h.URL)
	for _, c := range b.Client.Jar.Cookies(u) {
		if c.Name == h.Sessions.CookieName() {
			return c.Value
		}
	}
	return ""
}

func count(recs []store.AuditRecord, kind, actor string) int {
	n := 0
	for _, r := range recs {
		if r.Kind == kind && r.Actor == actor {
			n++
		}
	}
	return n
}

func TestSMSLogin(t *testing.T) {
	h := jt.New(t, jt.Options{})
	h.CreateAccount(jt.LiNa, pw)
	b := h.Browser()
	t.Run("unknown phone", func(t *testing.T) {
		p := b.Expect(b.Post("/hunanpea/login/sms", url.Values{"action": {"send"}, "phone": {"13911112222"}}), "login")
		if !p.HasErrorKind("wrong_credentials") || h.Providers.SMS["sms"].Sent("") != 0 {
			t.Fatalf("kinds %v", p.ErrorKinds())
		}
	})
	t.Run("wrong code", func(t *testing.T) {
		b.Expect(b.Post("/hunanpea/login/sms", url.Values{"action": {"send"}, "phone": {jt.LiNa.Phone}}), "login")
		p := b.Expect(b.Post("/hunanpea/login/sms", url.Values{"action": {"verify"}, "phone": {jt.LiNa.Phone}, "code": {"0000000"}}), "login")
		if p.Attr("field-error") != "code" {
			t.Fatalf("field errors %v", p.Attrs("field-error"))
		}
		code, _ := h.Providers.SMS["sms"].LastCode(jt.LiNa.Phone)
		b.Expect(b.Post("/hunanpea/login/sms", url.Values{"action": {"verify"}, "phone": {jt.LiNa.Phone}, "code": {code}}), "home")
	})
	if got := logins(h, "sms", "success"); got != 1 {
		t.Fatalf("sms successes %v", got)
	}
	if got := logins(h, "sms", "wrong_credentials"); got != 2 {
		t.Fatalf("sms wrong_credentials %v", got)
	}
}

func TestScanLogin(t *testing.T) {
	h := jt.New(t, jt.Options{})
	h.CreateAccount(jt.ZhangWei, pw, account.Link{Provider: "wechat", Subject: jt.ZhangWei.Identity("wechat").Subject})
	start := func(b *jt.Browser) *jt.Page {
		b.Expect(b.Get("/hunanpea/login?tab=scan"), "login")
		return b.Expect(b.Post("/hunanpea/login/scan", url.Values{"provider": {"wechat"}}), "qr")
	}
	t.Run("linked", func(t *testing.T) {
		b := h.Browser()
		qr := start(b)
		home := b.Expect(h.ConfirmScan(b, qr, "wechat", jt.ZhangWei.Identity("wechat")), "home")
		if home.Attr("signed-in") != "1" {
			t.Fatal("not signed in")
		}
		if got := logins(h, "scan", "success"); got != 1 {
			t.Fatalf("scan successes %v", got)
		}
	})
	t.Run("not linked", func(t *testing.T) {
		b := h.Browser()
		qr := start(b)
		p := b.Expect(h.ConfirmScan(b, qr, "wechat", jt.LiNa.Identity("wechat")), "message")
		if !p.HasErrorKind("not_linked") || !p.Contains(`href="/hunanpea/realname/"`) || p.Attr("signed-in") != "" {
			t.Fatalf("kinds %v", p.ErrorKinds())
		}
		if got := logins(h, "scan", "not_linked"); got != 1 {
			t.Fatalf("not_linked %v", got)
		}
	})
	t.Run("self-healing works for login too", func(t *testing.T) {
		b := h.Browser()
		qr := start(b)
		v := h.Providers.Scan["wechat"]
		s, _ := v.ByQR(qr.QR())
		if err := v.Forget(s.UUID); err != nil {
			t.Fatal(err)
		}
		if st := h.Status(b, qr.Attr("status-url")); st.ErrorKind != "uuid_invalid" || st.QRVersion != 2 {
			t.Fatalf("status %+v", st)
		}
		fresh := b.Expect(b.Get(qr.URL.Path), "qr")
		b.Expect(h.ConfirmScan(b, fresh, "wechat", jt.ZhangWei.Identity("wechat")), "home")
	})
}

func TestLoginPage(t *testing.T) {
	h := jt.New(t, jt.Options{})
	b := h.Browser()
	for tab, action := range map[string]string{"password": "login-password", "sms": "send", "scan": "", "": "login-password"} {
		p := b.Expect(b.Get("/hunanpea/login?tab="+tab), "login")
		if action != "" && !p.Contains(`data-action="`+action+`"`) {
			t.Errorf("tab %q lacks %s", tab, action)
		}
	}
	p := b.Expect(b.Get("/hunanpea/login?tab=scan"), "login")
	for _, pv := range []string{"wechat", "alipay", "ctid"} {
		if !p.Contains(`data-provider="` + pv + `"`) {
			t.Errorf("scan tab lacks %s", pv)
		}
	}
	if p := b.Get("/hunanpea/login?tab=oidc"); p.Step() != "login_password" {
		t.Fatalf("without issuers the oidc tab is %q", p.Step())
	}
}

// plantedCookie gives an attacker's browser a stored session (by starting
// a flow) and plants its cookie in victim, as session fixation does. It
// returns the attacker's browser.
func plantedCookie(t *testing.T, h *jt.Harness, victim *jt.Browser) *jt.Browser {
	t.Helper()
	attacker := h.Browser()
	attacker.Expect(attacker.Post("/hunanpea/realname/start", nil), "realname_choose")
	u, _ := url.Parse(h.URL)
	victim.Client.Jar.SetCookies(u, attacker.Client.Jar.Cookies(u))
	if cookie(t, victim, h) == "" {
		t.Fatal("no cookie planted")
	}
	return attacker
}

// TestEverySignInRotatesTheSession signs in by password, SMS code and
// scan from a browser whose cookie an attacker fixed: each sign-in gives
// the browser a new session id, and the fixed cookie signs no one in
// (ASVS 7.2.4). The OIDC login's test is oidclogin's
// TestOIDCSignInRotatesTheSession, the phone change's phonechange's
// TestCommitRotatesTheSession.
func TestEverySignInRotatesTheSession(t *testing.T) {
	h := jt.New(t, jt.Options{})
	h.CreateAccount(jt.ZhangWei, pw, account.Link{Provider: "wechat", Subject: jt.ZhangWei.Identity("wechat").Subject})
	for _, tc := range []struct {
		method string
		signIn func(b *jt.Browser) *jt.Page
	}{
		{"password", func(b *jt.Browser) *jt.Page { return passwordLogin(b, jt.ZhangWei, pw) }},
		{"sms", func(b *jt.Browser) *jt.Page {
			h.Clock.Advance(h.Config.Limits.SMSResendAfter.D())
			return smsLogin(t, h, b, jt.ZhangWei.Phone)
		}},
		{"scan", func(b *jt.Browser) *jt.Page {
			qr := b.Expect(b.Post("/hunanpea/login/scan", url.Values{"provider": {"wechat"}}), "qr")
			return h.ConfirmScan(b, qr, "wechat", jt.ZhangWei.Identity("wechat"))
		}},
	} {
		t.Run(tc.method, func(t *testing.T) {
			victim := h.Browser()
			attacker := plantedCookie(t, h, victim)
			fixed := cookie(t, victim, h)
			victim.Expect(tc.signIn(victim), "home")
			if now := cookie(t, victim, h); now == "" || now == fixed {
				t.Fatalf("%s sign-in kept the session id", tc.method)
			}
			if p := attacker.Get("/hunanpea/home"); p.Name() != "login" {
				t.Fatalf("the fixed cookie is signed in after a %s sign-in", tc.method)
			}
		})
	}
}

// TestSMSCodeIsSingleUse replays a code after the sign-in it served, in
// the same browser (a double submit, the back button) and in another
// one: the SMS plugin is stateless, so the gateway must not ask it again
// (its ticket was used up with the flow), and nobody signs in twice.
func TestSMSCodeIsSingleUse(t *testing.T) {
	h := jt.New(t, jt.Options{})
	h.CreateAccount(jt.LiNa, pw)
	sms := h.Providers.SMS["sms"]
	b := h.Browser()
	b.Expect(smsLogin(t, h, b, jt.LiNa.Phone), "home")
	code, _ := sms.LastCode(jt.LiNa.Phone)
	verified := sms.Calls("VerifyCode")
	for name, br := range map[string]*jt.Browser{"same browser": b, "another browser": h.Browser()} {
		p := br.Expect(br.Post("/hunanpea/login/sms", url.Values{"action": {"verify"}, "phone": {jt.LiNa.Phone}, "code": {code}}), "login")
		if p.Step() != "login_sms" || !p.HasErrorKind("code_not_sent") {
			t.Fatalf("%s: replay ended on %q, kinds %v", name, p.Step(), p.ErrorKinds())
		}
	}
	if n := sms.Calls("VerifyCode"); n != verified {
		t.Fatalf("a used ticket was checked again (%d → %d vendor checks)", verified, n)
	}
	if got := logins(h, "sms", "success"); got != 1 {
		t.Fatalf("sms successes %v, want 1", got)
	}
}

// TestSessionTimeoutsEndSignIn drives the signed-in candidate's home page
// with the harness clock: 30 minutes without a request end the session
// (idle timeout), and a session kept busy ends 8 hours after sign-in
// (absolute timeout), as SECURITY.md documents (ASVS 7.3.1, 7.3.2).
func TestSessionTimeoutsEndSignIn(t *testing.T) {
	h := jt.New(t, jt.Options{})
	h.CreateAccount(jt.ZhangWei, pw)
	signedIn := func(b *jt.Browser) bool { return b.Get("/hunanpea/home").Name() == "home" }

	t.Run("idle", func(t *testing.T) {
		b := h.Browser()
		b.Expect(passwordLogin(b, jt.ZhangWei, pw), "home")
		h.Clock.Advance(29 * time.Minute)
		if !signedIn(b) {
			t.Fatal("signed out after 29 idle minutes")
		}
		h.Clock.Advance(30*time.Minute + time.Second)
		if signedIn(b) {
			t.Fatal("still signed in after 30 idle minutes")
		}
	})
	t.Run("absolute", func(t *testing.T) {
		b := h.Browser()
		b.Expect(passwordLogin(b, jt.ZhangWei, pw), "home")
		for i := range 23 {
			h.Clock.Advance(20 * time.Minute)
			if !signedIn(b) {
				t.Fatalf("signed out after %v of activity", time.Duration(i+1)*20*time.Minute)
			}
		}
		h.Clock.Advance(20 * time.Minute) // 8 h after sign-in
		if signedIn(b) {
			t.Fatal("still signed in 8 hours after sign-in")
		}
	})
}
