package phonechange_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	jt "github.com/shiming-id/shiming/gateway/journey/journeytest"
	"github.com/shiming-id/shiming/plugins/sdk"
)

const pw = "Kaoshi2026ok"

func changes(h *jt.Harness, outcome string) float64 {
	return h.Counter("shiming_phone_changes_total", "portal", "hunanpea", "outcome", outcome)
}

// startChange goes from 忘记密码 to the change form of p's number.
func startChange(t *testing.T, b *jt.Browser, idNumber string) string {
	t.Helper()
	b.Expect(b.Get("/hunanpea/forgot"), "forgot")
	opts := b.Expect(b.Post("/hunanpea/forgot", url.Values{"id_number": {idNumber}}), "forgot_options")
	base := jt.FlowBase(opts)
	b.Expect(b.Get(base+"change"), "forgot_change")
	return base
}

func send(b *jt.Browser, base, name, phone string) *jt.Page {
	return b.Post(base+"change", url.Values{"action": {"send"}, "name": {name}, "phone": {phone}})
}

func verify(b *jt.Browser, base, name, phone, code string) *jt.Page {
	return b.Post(base+"change", url.Values{"action": {"verify"}, "name": {name}, "phone": {phone}, "code": {code}})
}

func TestPhoneChangeEndToEnd(t *testing.T) {
	h := jt.New(t, jt.Options{})
	a := h.CreateAccount(jt.ZhangWei, pw)
	sms := h.Providers.SMS["sms"]
	const newPhone = "13900005555"

	// The candidate is signed in on two computers.
	first, second := h.Browser(), h.Browser()
	for _, b := range []*jt.Browser{first, second} {
		b.Expect(b.Post("/hunanpea/login/password", url.Values{"id_number": {jt.ZhangWei.IDNumber}, "password": {pw}}), "home")
	}

	b := h.Browser()
	base := startChange(t, b, jt.ZhangWei.IDNumber)

	t.Run("a wrong name sends no SMS", func(t *testing.T) {
		p := b.Expect(send(b, base, "张炜", newPhone), "forgot_change")
		if !p.HasErrorKind("name_mismatch") || p.Attr("field-error") != "name" || sms.Sent("") != 0 {
			t.Fatalf("kinds %v, %d sent", p.ErrorKinds(), sms.Sent(""))
		}
		if got := changes(h, "name_mismatch"); got != 1 {
			t.Fatalf("name_mismatch %v", got)
		}
	})
	t.Run("a new phone bound to another account", func(t *testing.T) {
		h.CreateAccount(jt.LiNa, pw)
		p := b.Expect(send(b, base, "张伟", jt.LiNa.Phone), "forgot_change")
		if !p.HasErrorKind("phone_taken") || sms.Sent("") != 0 {
			t.Fatalf("kinds %v, %d sent", p.ErrorKinds(), sms.Sent(""))
		}
	})
	p := b.Expect(send(b, base, "张伟", newPhone), "forgot_change")
	if p.Attr("sms-sent") != "1" || sms.Sent(newPhone) != 1 || sms.Sent(jt.ZhangWei.Phone) != 0 {
		t.Fatalf("the code went elsewhere: %d to the new phone", sms.Sent(newPhone))
	}
	// The page asking for the code keeps the name typed before sending it.
	if !p.Contains(`name="name" value="张伟"`) {
		t.Fatal("the change page forgot the name once the code was sent")
	}
	code, _ := sms.LastCode(newPhone)
	t.Run("the code confirms only the number it was sent to", func(t *testing.T) {
		p := b.Expect(verify(b, base, "张伟", "13900006666", code), "forgot_change")
		if p.Attr("field-error") != "code" || changes(h, "code_invalid") != 1 {
			t.Fatalf("field errors %v", p.Attrs("field-error"))
		}
	})
	t.Run("no commit before the face passed", func(t *testing.T) {
		if p := b.Post(base+"confirm", nil); p.Path() != base+"change" {
			t.Fatalf("POST confirm before the code ended on %s", p.URL)
		}
	})
	b.Expect(verify(b, base, "张伟", newPhone, code), "face")
	if p := b.Post(base+"confirm", nil); p.Path() != base+"face" {
		t.Fatalf("POST confirm before the face ended on %s", p.URL)
	}

	face := h.Providers.Face["alipay"]
	q := b.Expect(b.Post(base+"face", url.Values{"action": {"start"}}), "qr")
	info, _ := face.Latest()
	if info.Request.Name != "张伟" || info.Request.IDNumber != jt.ZhangWei.IDNumber || q.QR() != info.QR {
		t.Fatalf("face request %+v", info.Request)
	}
	if err := face.Fail(info.CertifyID, sdk.LivenessFailed); err != nil {
		t.Fatal(err)
	}
	h.Clock.Advance(h.Config.RealName.ScanPollInterval.D())
	p = b.Expect(b.Post(base+"face", url.Values{"action": {"check"}}), "face")
	if !p.HasErrorKind("liveness_failed") || changes(h, "face_failed") != 1 {
		t.Fatalf("kinds %v", p.ErrorKinds())
	}
	if p := b.Post(base+"confirm", nil); p.Path() != base+"face" {
		t.Fatalf("POST confirm after a failed face ended on %s", p.URL)
	}
	confirm := b.Expect(h.PassFace(b, base+"face", "alipay"), "forgot_confirm")
	if !confirm.Contains("138****1001") || !confirm.Contains("139****5555") || confirm.Contains(newPhone) {
		t.Fatal("the confirm page does not show the masked numbers")
	}
	done := b.Expect(b.Post(base+"confirm", nil), "message")
	if !done.Contains("手机号码已修改。请关闭所有页面，重新进入后使用验码登录") {
		t.Fatal("done page")
	}

	ctx := context.Background()
	got, err := h.Accounts.ByID(ctx, a.ID)
	if err != nil || got.Phone != newPhone {
		t.Fatalf("account phone %q, %v", got.Phone, err)
	}
	if changes(h, "completed") != 1 {
		t.Fatal("completed not counted")
	}
	for i, b := range []*jt.Browser{first, second} {
		if p := b.Get("/hunanpea/home"); p.Name() != "login" {
			t.Fatalf("computer %d is still signed in: %s", i, p.URL)
		}
	}
	recs, err := h.Store.ListAudit(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var detail map[string]string
	for _, r := range recs {
		if r.Kind == "phone_change" && r.Actor == a.ID {
			if err := json.Unmarshal(r.Detail, &detail); err != nil {
				t.Fatal(err)
			}
			if r.Subject != "430***********1235" {
				t.Fatalf("audit subject %q", r.Subject)
			}
		}
	}
	if detail["old_phone"] != "138****1001" || detail["new_phone"] != "139****5555" {
		t.Fatalf("audit detail %v", detail)
	}
	if n := sms.Notices(""); len(n) != 1 || n[0].Phone != jt.ZhangWei.Phone || n[0].Notice.Params["phone"] != "139****5555" {
		t.Fatalf("notices %+v, want one to the old phone", n)
	}

	t.Run("the old phone no longer logs in by SMS, the new one does", func(t *testing.T) {
		c := h.Browser()
		sent := sms.Sent(jt.ZhangWei.Phone)
		p := c.Expect(c.Post("/hunanpea/login/sms", url.Values{"action": {"send"}, "phone": {jt.ZhangWei.Phone}}), "login")
		if !p.HasErrorKind("wrong_credentials") || sms.Sent(jt.ZhangWei.Phone) != sent {
			t.Fatalf("old phone: %v", p.ErrorKinds())
		}
		h.Clock.Advance(h.Config.Limits.SMSResendAfter.D()) // the resend cooldown of the new number
		p = c.Expect(c.Post("/hunanpea/login/sms", url.Values{"action": {"send"}, "phone": {newPhone}}), "login")
		if p.Attr("sms-sent") != "1" {
			t.Fatalf("new phone: %v", p.ErrorKinds())
		}
		code, _ := sms.LastCode(newPhone)
		c.Expect(c.Post("/hunanpea/login/sms", url.Values{"action": {"verify"}, "phone": {newPhone}, "code": {code}}), "home")
	})
	t.Run("the flow is finished", func(t *testing.T) {
		if p := b.Post(base+"confirm", nil); p.Path() != base+"done" {
			t.Fatalf("a second confirm ended on %s", p.URL)
		}
		if n := changes(h, "completed"); n != 1 {
			t.Fatalf("completed %v", n)
		}
	})
}

func TestPhoneChangeForAnUnregisteredNumber(t *testing.T) {
	h := jt.New(t, jt.Options{})
	b := h.Browser()
	base := startChange(t, b, jt.LiuYang.IDNumber)
	p := b.Expect(send(b, base, jt.LiuYang.Name, "13900007777"), "forgot_change")
	if !p.HasErrorKind("name_mismatch") || h.Providers.SMS["sms"].Sent("") != 0 {
		t.Fatalf("kinds %v", p.ErrorKinds())
	}
}

func TestNameChecksAreBounded(t *testing.T) {
	h := jt.New(t, jt.Options{})
	h.CreateAccount(jt.ZhangWei, pw)
	b := h.Browser()
	base := startChange(t, b, jt.ZhangWei.IDNumber)
	for range 5 {
		b.Expect(send(b, base, "张三", "13900007777"), "forgot_change")
	}
	p := b.Expect(send(b, base, "张伟", "13900007777"), "forgot_change")
	if !p.HasErrorKind("too_many_attempts") || h.Providers.SMS["sms"].Sent("") != 0 {
		t.Fatalf("a sixth name was checked: %v", p.ErrorKinds())
	}
}

func TestPasswordReset(t *testing.T) {
	h := jt.New(t, jt.Options{})
	h.CreateAccount(jt.ZhangWei, pw)
	signedIn := h.Browser()
	signedIn.Expect(signedIn.Post("/hunanpea/login/password", url.Values{"id_number": {jt.ZhangWei.IDNumber}, "password": {pw}}), "home")
	b := h.Browser()
	b.Expect(b.Get("/hunanpea/forgot"), "forgot")
	opts := b.Expect(b.Post("/hunanpea/forgot", url.Values{"id_number": {jt.ZhangWei.IDNumber}}), "forgot_options")
	base := jt.FlowBase(opts)
	b.Expect(b.Get(base+"reset"), "forgot_reset")
	p := b.Expect(b.Post(base+"reset", url.Values{"action": {"send"}}), "forgot_reset")
	if p.Attr("sms-sent") != "1" || !p.Contains("138****1001") {
		t.Fatal("no code sent to the current phone")
	}
	code, _ := h.Providers.SMS["sms"].LastCode(jt.ZhangWei.Phone)
	const newPW = "Xinmima2026"
	p = b.Expect(b.Post(base+"reset", url.Values{"action": {"reset"}, "code": {code}, "password": {"short1"}, "password2": {"short1"}}), "forgot_reset")
	if p.Attr("field-error") != "password" {
		t.Fatalf("weak password accepted: %v", p.Attrs("field-error"))
	}
	b.Expect(b.Post(base+"reset", url.Values{"action": {"reset"}, "code": {code}, "password": {newPW}, "password2": {newPW}}), "message")
	if p := signedIn.Get("/hunanpea/home"); p.Name() != "login" {
		t.Fatal("the other session survived the reset")
	}
	c := h.Browser()
	c.Expect(c.Post("/hunanpea/login/password", url.Values{"id_number": {jt.ZhangWei.IDNumber}, "password": {pw}}), "login")
	c.Expect(c.Post("/hunanpea/login/password", url.Values{"id_number": {jt.ZhangWei.IDNumber}, "password": {newPW}}), "home")
}

func TestForgotOfAnotherBrowser(t *testing.T) {
	h := jt.New(t, jt.Options{})
	b := h.Browser()
	base := startChange(t, b, jt.ZhangWei.IDNumber)
	other := h.Browser()
	other.Expect(other.Get("/hunanpea/forgot"), "forgot")
	if p := other.Get(base + "change"); p.Status != http.StatusForbidden {
		t.Fatalf("another browser: %d", p.Status)
	}
}

func sessionCookie(h *jt.Harness, b *jt.Browser) string {
	u, _ := url.Parse(h.URL)
	for _, c := range b.Client.Jar.Cookies(u) {
		if c.Name == h.Sessions.CookieName() {
			return c.Value
		}
	}
	return ""
}

// TestCommitRotatesTheSession commits a phone change and a password
// reset: the browser that proved the account leaves with a new session
// id, so a cookie fixed in it beforehand is dead (ASVS 7.2.4), and the
// done page still opens.
func TestCommitRotatesTheSession(t *testing.T) {
	t.Run("phone change", func(t *testing.T) {
		h := jt.New(t, jt.Options{})
		h.CreateAccount(jt.ZhangWei, pw)
		b := h.Browser()
		base := startChange(t, b, jt.ZhangWei.IDNumber)
		b.Expect(send(b, base, "张伟", "13900005555"), "forgot_change")
		code, _ := h.Providers.SMS["sms"].LastCode("13900005555")
		b.Expect(verify(b, base, "张伟", "13900005555", code), "face")
		b.Expect(h.PassFace(b, base+"face", "alipay"), "forgot_confirm")
		before := sessionCookie(h, b)
		b.Expect(b.Post(base+"confirm", nil), "message")
		if after := sessionCookie(h, b); after == "" || after == before {
			t.Fatal("the phone change kept the session id")
		}
		stale := h.Browser()
		u, _ := url.Parse(h.URL)
		stale.Client.Jar.SetCookies(u, []*http.Cookie{{Name: h.Sessions.CookieName(), Value: before, Path: "/"}})
		if p := stale.Get(base + "done"); p.Status != http.StatusForbidden {
			t.Fatalf("the old cookie still opens the flow: %d", p.Status)
		}
	})
	t.Run("phone change while signed in as the account", func(t *testing.T) {
		// The browser that makes the change is signed out with every other
		// session of the account, yet still sees the page that says so.
		h := jt.New(t, jt.Options{})
		h.CreateAccount(jt.ZhangWei, pw)
		b := h.Browser()
		b.Expect(b.Post("/hunanpea/login/password", url.Values{"id_number": {jt.ZhangWei.IDNumber}, "password": {pw}}), "home")
		base := startChange(t, b, jt.ZhangWei.IDNumber)
		b.Expect(send(b, base, "张伟", "13900005555"), "forgot_change")
		code, _ := h.Providers.SMS["sms"].LastCode("13900005555")
		b.Expect(verify(b, base, "张伟", "13900005555", code), "face")
		b.Expect(h.PassFace(b, base+"face", "alipay"), "forgot_confirm")
		if p := b.Post(base+"confirm", nil); p.Status != http.StatusOK || !p.Contains("验码登录") {
			t.Fatalf("the done page after the change: %d %s", p.Status, p.Name())
		}
		if p := b.Get("/hunanpea/home"); p.Attr("signed-in") == "1" {
			t.Fatal("the browser that changed the phone is still signed in")
		}
	})
	t.Run("password reset", func(t *testing.T) {
		h := jt.New(t, jt.Options{})
		h.CreateAccount(jt.ZhangWei, pw)
		b := h.Browser()
		opts := b.Expect(b.Post("/hunanpea/forgot", url.Values{"id_number": {jt.ZhangWei.IDNumber}}), "forgot_options")
		base := jt.FlowBase(opts)
		b.Expect(b.Post(base+"reset", url.Values{"action": {"send"}}), "forgot_reset")
		code, _ := h.Providers.SMS["sms"].LastCode(jt.ZhangWei.Phone)
		before := sessionCookie(h, b)
		const newPW = "Xinmima2026"
		b.Expect(b.Post(base+"reset", url.Values{"action": {"reset"}, "code": {code}, "password": {newPW}, "password2": {newPW}}), "message")
		if after := sessionCookie(h, b); after == "" || after == before {
			t.Fatal("the password reset kept the session id")
		}
	})
}

// TestCodeOfAnotherFlowIsRefused is Casdoor issue 3607 from the other
// side: an attacker who runs his own phone change (his own account, his
// own new number) cannot use the code he received in the victim's flow,
// because a ticket lives in the flow that asked for it.
func TestCodeOfAnotherFlowIsRefused(t *testing.T) {
	h := jt.New(t, jt.Options{})
	victim := h.CreateAccount(jt.ZhangWei, pw)
	h.CreateAccount(jt.LiNa, pw)
	sms := h.Providers.SMS["sms"]
	const attackerPhone = "13900008888"

	attacker := h.Browser()
	own := startChange(t, attacker, jt.LiNa.IDNumber)
	attacker.Expect(send(attacker, own, jt.LiNa.Name, attackerPhone), "forgot_change")
	code, _ := sms.LastCode(attackerPhone)

	theirs := startChange(t, attacker, jt.ZhangWei.IDNumber)
	p := attacker.Expect(verify(attacker, theirs, "张伟", attackerPhone, code), "forgot_change")
	if !p.HasErrorKind("code_not_sent") || !p.Contains("请先获取短信验证码") {
		t.Fatalf("a code of another flow was not refused clearly: %v", p.ErrorKinds())
	}
	if got, _ := h.Accounts.ByID(t.Context(), victim.ID); got.Phone != jt.ZhangWei.Phone {
		t.Fatalf("the victim's phone changed to %s", got.Phone)
	}
	if p := attacker.Post(theirs+"confirm", nil); p.Path() == theirs+"done" || p.Name() == "message" {
		t.Fatalf("confirm after a foreign code ended on %s", p.URL)
	}
}
