package realname_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shiming-id/shiming/gateway/config"
	jt "github.com/shiming-id/shiming/gateway/journey/journeytest"
	"github.com/shiming-id/shiming/gateway/web"
	"github.com/shiming-id/shiming/plugins/sdk"
)

// TestMismatchThenCTID: 刘䶮's name has a rare character the registry
// holds as 刘岩. The WeChat path fails the name/ID check; the page
// explains and offers CTID, whose chip read succeeds.
func TestMismatchThenCTID(t *testing.T) {
	h := jt.New(t, jt.Options{})
	b := h.Browser()
	p := jt.LiuYan
	qr := h.StartRealName(b, "hunanpea", "wechat")
	base := jt.FlowBase(qr)
	b.Expect(h.ConfirmScan(b, qr, "wechat", p.Identity("wechat")), "realname_identity")
	mm := b.Expect(h.Identity(b, base, p), "realname_mismatch")
	if !mm.HasErrorKind("name_id_mismatch") || !mm.Contains(web.TextNameIDMismatch) || !mm.Contains("生僻字") {
		t.Fatalf("mismatch page: %v", mm.ErrorKinds())
	}
	if got := h.Counter("shiming_realname_flows_total", "portal", "hunanpea", "provider", "wechat", "outcome", "mismatch"); got != 1 {
		t.Fatalf("mismatch flows %v", got)
	}
	if got := h.Counter("shiming_realname_errors_total", "portal", "hunanpea", "provider", "ctid", "kind", "name_id_mismatch"); got != 1 {
		t.Fatalf("name_id_mismatch errors %v", got)
	}
	recovered := func() float64 {
		return h.Counter("shiming_realname_recoveries_total", "portal", "hunanpea", "provider", "ctid", "kind", "name_id_mismatch")
	}
	if got := recovered(); got != 0 {
		t.Fatalf("name_id_mismatch recoveries %v before the CTID path", got)
	}
	ctidQR := b.Expect(b.Post(base+"ctid", nil), "qr")
	if !strings.Contains(ctidQR.QR(), "fake-ctid") {
		t.Fatalf("the CTID path shows %q", ctidQR.QR())
	}
	b.Expect(h.ConfirmScan(b, ctidQR, "ctid", p.Identity("ctid")), "realname_identity")
	if got := recovered(); got != 0 {
		t.Fatalf("name_id_mismatch recoveries %v before 实名登录 passed", got)
	}
	b.Expect(h.Identity(b, base, p), "realname_phone")
	// The chip's identity passed 实名登录: the mismatch met by the
	// name/ID check is healed, counted once under the same provider.
	if got := recovered(); got != 1 {
		t.Fatalf("name_id_mismatch recoveries %v after the CTID path passed", got)
	}
	b.Expect(h.BindPhone(b, base, p.Phone), "face")
	b.Expect(h.PassFace(b, base+"face", "ctid"), "realname_password")
	b.Expect(h.SetPassword(b, base, "Kaoshi2026ok"), "login")
	a, err := h.Accounts.ByIDNumber(context.Background(), p.IDNumber)
	if err != nil || a.Name != "刘䶮" {
		t.Fatalf("account %+v, %v", a, err)
	}
	if n := h.Providers.Identity["ctid"].Calls("CheckIdentity"); n != 1 {
		t.Fatalf("CheckIdentity called %d times; the chip's identity is compared here", n)
	}
}

// TestMismatchRetypedIsNoRecovery: a candidate who types the registry's
// name after a mismatch passes 实名登录 on their own; only the CTID path
// counts as a recovery of the mismatch.
func TestMismatchRetypedIsNoRecovery(t *testing.T) {
	h := jt.New(t, jt.Options{})
	b := h.Browser()
	p := jt.LiuYan
	qr := h.StartRealName(b, "hunanpea", "wechat")
	base := jt.FlowBase(qr)
	b.Expect(h.ConfirmScan(b, qr, "wechat", p.Identity("wechat")), "realname_identity")
	b.Expect(h.Identity(b, base, p), "realname_mismatch")
	retyped := p
	retyped.Name = p.RegistryName
	b.Expect(h.Identity(b, base, retyped), "realname_phone")
	if got := h.Counter("shiming_realname_recoveries_total", "portal", "hunanpea", "provider", "ctid", "kind", "name_id_mismatch"); got != 0 {
		t.Fatalf("name_id_mismatch recoveries %v after a retyped name", got)
	}
}

func TestIdentityStep(t *testing.T) {
	h := jt.New(t, jt.Options{})
	h.CreateAccount(jt.ZhangWei, "Kaoshi2026ok")
	b := h.Browser()
	qr := h.StartRealName(b, "hunanpea", "wechat")
	base := jt.FlowBase(qr)
	b.Expect(h.ConfirmScan(b, qr, "wechat", jt.ZhangWei.Identity("wechat")), "realname_identity")

	t.Run("fields are checked before any vendor call", func(t *testing.T) {
		p := b.Expect(b.Post(base+"identity", url.Values{"name": {"Zhang"}, "id_number": {"430102199503141234"}}), "realname_identity")
		if p.Attr("field-error") != "name" || p.Attrs("field-error")[1] != "id_number" {
			t.Fatalf("field errors %v", p.Attrs("field-error"))
		}
		if !p.Contains(`value="430102199503141234"`) {
			t.Fatal("the typed ID number was lost")
		}
		if n := h.Providers.Identity["ctid"].Calls("CheckIdentity"); n != 0 {
			t.Fatalf("CheckIdentity called %d times", n)
		}
	})
	t.Run("an ID number with an account", func(t *testing.T) {
		p := b.Expect(h.Identity(b, base, jt.ZhangWei), "message")
		if !p.HasErrorKind("already_registered") || !p.Contains("该身份证号码已完成实名注册") ||
			!p.Contains(`href="/hunanpea/login"`) || !p.Contains(`href="/hunanpea/forgot"`) {
			t.Fatalf("registered page %v", p.ErrorKinds())
		}
		if got := h.Counter("shiming_realname_flows_total", "portal", "hunanpea", "provider", "wechat", "outcome", "already_registered"); got != 1 {
			t.Fatalf("already_registered %v", got)
		}
	})
	t.Run("the vendor is busy", func(t *testing.T) {
		h.Providers.Identity["ctid"].FailNext("CheckIdentity", sdk.E(sdk.VendorUnavailable, "down"))
		p := b.Expect(h.Identity(b, base, jt.LiNa), "realname_identity")
		if !p.HasErrorKind("vendor_unavailable") || !p.Contains(`value="李娜"`) {
			t.Fatalf("busy: %v", p.ErrorKinds())
		}
		b.Expect(h.Identity(b, base, jt.LiNa), "realname_phone")
	})
}

func TestPhoneStep(t *testing.T) {
	limits := config.Default().Limits
	limits.SMSPerPhonePerDay = 2
	h := jt.New(t, jt.Options{Limits: &limits})
	h.CreateAccount(jt.LiNa, "Kaoshi2026ok")
	sms := h.Providers.SMS["sms"]
	b := h.Browser()
	qr := h.StartRealName(b, "hunanpea", "wechat")
	base := jt.FlowBase(qr)
	b.Expect(h.ConfirmScan(b, qr, "wechat", jt.ZhangWei.Identity("wechat")), "realname_identity")
	b.Expect(h.Identity(b, base, jt.ZhangWei), "realname_phone")

	t.Run("a phone bound to another account", func(t *testing.T) {
		p := b.Expect(b.Post(base+"phone", url.Values{"action": {"send"}, "phone": {jt.LiNa.Phone}}), "realname_phone")
		if !p.HasErrorKind("phone_taken") || sms.Sent("") != 0 {
			t.Fatalf("kinds %v, %d sent", p.ErrorKinds(), sms.Sent(""))
		}
	})
	const phone = "13900002222"
	t.Run("resend cooldown and daily limit", func(t *testing.T) {
		p := b.Expect(b.Post(base+"phone", url.Values{"action": {"send"}, "phone": {phone}}), "realname_phone")
		if p.Attr("sms-sent") != "1" || p.Attr("resend-in") != "1 分钟" || sms.Sent(phone) != 1 {
			t.Fatalf("first send: sent=%q, %d codes", p.Attr("sms-sent"), sms.Sent(phone))
		}
		h.Clock.Advance(20 * time.Second)
		p = b.Expect(b.Post(base+"phone", url.Values{"action": {"send"}, "phone": {phone}}), "realname_phone")
		if !p.HasErrorKind("rate_limited") || !p.Contains("40 秒后再试") || sms.Sent(phone) != 1 {
			t.Fatalf("resend inside the cooldown: %v, %d codes", p.ErrorKinds(), sms.Sent(phone))
		}
		h.Clock.Advance(41 * time.Second)
		b.Expect(b.Post(base+"phone", url.Values{"action": {"send"}, "phone": {phone}}), "realname_phone")
		h.Clock.Advance(61 * time.Second)
		p = b.Expect(b.Post(base+"phone", url.Values{"action": {"send"}, "phone": {phone}}), "realname_phone")
		if !p.HasErrorKind("rate_limited") || !p.Contains("今日短信验证码发送次数已达上限") || sms.Sent(phone) != 2 {
			t.Fatalf("over the daily limit: %v, %d codes", p.ErrorKinds(), sms.Sent(phone))
		}
		if got := h.Counter("shiming_rate_limited_total", "limit", "sms_phone"); got != 1 {
			t.Fatalf("sms_phone limited %v", got)
		}
	})
	t.Run("wrong codes, then too many", func(t *testing.T) {
		code, _ := sms.LastCode(phone)
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		for i := range 5 {
			p := b.Expect(b.Post(base+"phone", url.Values{"action": {"verify"}, "phone": {phone}, "code": {wrong}}), "realname_phone")
			want := web.TextSMSWrong
			if p.Attr("field-error") != "code" || !p.Contains(want) {
				t.Fatalf("attempt %d: %v", i, p.Attrs("field-error"))
			}
		}
		p := b.Expect(b.Post(base+"phone", url.Values{"action": {"verify"}, "phone": {phone}, "code": {code}}), "realname_phone")
		if !p.Contains(web.TextSMSAttempts) {
			t.Fatal("a sixth attempt was allowed")
		}
		if n := sms.Calls("VerifyCode"); n != 5 {
			t.Fatalf("VerifyCode called %d times", n)
		}
	})
	t.Run("a code for one number does not bind another", func(t *testing.T) {
		const other = "13900004444"
		b.Expect(b.Post(base+"phone", url.Values{"action": {"send"}, "phone": {other}}), "realname_phone")
		code, _ := sms.LastCode(other)
		p := b.Expect(b.Post(base+"phone", url.Values{"action": {"verify"}, "phone": {"13900003333"}, "code": {code}}), "realname_phone")
		if !p.Contains(web.TextSMSWrongPhone) {
			t.Fatal("a code sent to one number confirmed another")
		}
		b.Expect(b.Post(base+"phone", url.Values{"action": {"verify"}, "phone": {other}, "code": {code}}), "face")
	})
}

func TestFaceFailThenPass(t *testing.T) {
	h := jt.New(t, jt.Options{})
	b := h.Browser()
	qr := h.StartRealName(b, "hunanpea", "wechat")
	base := jt.FlowBase(qr)
	b.Expect(h.ConfirmScan(b, qr, "wechat", jt.ZhangWei.Identity("wechat")), "realname_identity")
	b.Expect(h.Identity(b, base, jt.ZhangWei), "realname_phone")
	b.Expect(h.BindPhone(b, base, jt.ZhangWei.Phone), "face")
	face := h.Providers.Face["wechat"]

	for i, reason := range []sdk.Kind{sdk.FaceMismatch, sdk.LivenessFailed} {
		q := b.Expect(b.Post(base+"face", url.Values{"action": {"start"}}), "qr")
		info, _ := face.Latest()
		if q.QR() != info.QR || info.Request.Name != "张伟" || info.Request.Subject != "o"+jt.ZhangWei.Identity("wechat").Subject {
			t.Fatalf("face request %+v", info.Request)
		}
		must(t, face.Fail(info.CertifyID, reason))
		st := h.Status(b, q.Attr("status-url"))
		if st.Phase != "failed" || st.ErrorKind != reason.String() {
			t.Fatalf("status %+v", st)
		}
		p := b.Expect(b.Get(base+"face"), "face")
		if !p.HasErrorKind(reason.String()) || !p.Contains("重新人脸识别") || p.Attr("attempts-left") != []string{"2", "1"}[i] {
			t.Fatalf("after %s: %v, attempts left %q", reason, p.ErrorKinds(), p.Attr("attempts-left"))
		}
		if got := h.Counter("shiming_realname_errors_total", "portal", "hunanpea", "provider", "wechat", "kind", reason.String()); got != 1 {
			t.Fatalf("%s errors %v", reason, got)
		}
	}
	t.Run("a cancelled verification restarts by itself", func(t *testing.T) {
		q := b.Expect(b.Post(base+"face", url.Values{"action": {"start"}}), "qr")
		info, _ := face.Latest()
		must(t, face.Fail(info.CertifyID, sdk.Cancelled))
		st := h.Status(b, q.Attr("status-url"))
		if st.Phase != "pending" || st.ErrorKind != "cancelled" {
			t.Fatalf("status %+v", st)
		}
		if got := h.Counter("shiming_realname_recoveries_total", "portal", "hunanpea", "provider", "wechat", "kind", "cancelled"); got != 1 {
			t.Fatalf("face recoveries %v", got)
		}
	})
	b.Expect(h.PassFace(b, base+"face", "wechat"), "realname_password")
}

func TestFaceAttemptsRunOut(t *testing.T) {
	h := jt.New(t, jt.Options{})
	b := h.Browser()
	qr := h.StartRealName(b, "hunanpea", "alipay")
	base := jt.FlowBase(qr)
	b.Expect(h.ConfirmScan(b, qr, "alipay", jt.LiNa.Identity("alipay")), "realname_identity")
	b.Expect(h.Identity(b, base, jt.LiNa), "realname_phone")
	b.Expect(h.BindPhone(b, base, jt.LiNa.Phone), "face")
	face := h.Providers.Face["alipay"]
	for range 3 {
		b.Expect(b.Post(base+"face", url.Values{"action": {"start"}}), "qr")
		info, _ := face.Latest()
		must(t, face.Fail(info.CertifyID, sdk.FaceMismatch))
		h.Clock.Advance(h.Config.RealName.ScanPollInterval.D())
		b.Expect(b.Post(base+"face", url.Values{"action": {"check"}}), "face")
	}
	p := b.Expect(b.Post(base+"face", url.Values{"action": {"start"}}), "face")
	if !p.HasErrorKind("face_attempts") || face.Count() != 3 {
		t.Fatalf("after three failures: %v, %d verifications", p.ErrorKinds(), face.Count())
	}
	if got := h.Counter("shiming_realname_flows_total", "portal", "hunanpea", "provider", "alipay", "outcome", "face_failed"); got != 1 {
		t.Fatalf("face_failed flows %v", got)
	}
	b.Expect(b.Get(base+"password"), "face")
}

// TestStepsCannotBeSkipped posts to later steps than the flow is at.
func TestStepsCannotBeSkipped(t *testing.T) {
	h := jt.New(t, jt.Options{})
	b := h.Browser()
	choose := b.Expect(b.Post("/hunanpea/realname/start", nil), "realname_choose")
	base := jt.FlowBase(choose)
	for _, step := range []string{"identity", "phone", "face", "password"} {
		p := b.Post(base+step, url.Values{"name": {"张伟"}, "id_number": {jt.ZhangWei.IDNumber}, "phone": {"13800001001"},
			"password": {"Kaoshi2026ok"}, "password2": {"Kaoshi2026ok"}, "action": {"start"}})
		if p.Path() != base+"choose" || p.Name() != "realname_choose" {
			t.Fatalf("POST %s ended on %s", step, p.URL)
		}
	}
	qr := b.Expect(b.Post(base+"choose", url.Values{"provider": {"wechat"}}), "qr")
	if p := b.Get(base + "password"); p.Path() != base+"qr" {
		t.Fatalf("GET password at the scan step ended on %s", p.URL)
	}
	b.Expect(h.ConfirmScan(b, qr, "wechat", jt.ZhangWei.Identity("wechat")), "realname_identity")
	if p := b.Get(base + "choose"); p.Path() != base+"identity" {
		t.Fatalf("going back to choose after the scan ended on %s", p.URL)
	}
	if p := b.Post(base+"choose", url.Values{"provider": {"bogus"}}); p.Path() != base+"identity" {
		t.Fatalf("POST choose after the scan ended on %s", p.URL)
	}
	if _, err := h.Accounts.ByIDNumber(context.Background(), jt.ZhangWei.IDNumber); err == nil {
		t.Fatal("an account was created")
	}
}

// TestFlowOfAnotherBrowser uses a flow's URL from a second browser.
func TestFlowOfAnotherBrowser(t *testing.T) {
	h := jt.New(t, jt.Options{})
	a := h.Browser()
	qr := h.StartRealName(a, "hunanpea", "wechat")
	base := jt.FlowBase(qr)

	fresh := h.Browser()
	if p := fresh.Get(base + "qr"); p.Status != http.StatusForbidden {
		t.Fatalf("a browser without a session: %d", p.Status)
	}
	other := h.Browser()
	h.StartRealName(other, "hunanpea", "alipay")
	for _, p := range []*jt.Page{other.Get(base + "qr"), other.Get(base + "status"), other.Get(base + "qr.png"),
		other.Post(base+"identity", url.Values{"name": {"张伟"}, "id_number": {jt.ZhangWei.IDNumber}})} {
		if p.Status != http.StatusForbidden || !p.Contains(web.TextFlowForeign) {
			t.Fatalf("%s from another browser: %d", p.URL.Path, p.Status)
		}
	}
	if p := a.Get(base + "qr.png"); p.Status != 200 || p.Header.Get("Content-Type") != "image/png" || !strings.HasPrefix(p.Body, "\x89PNG") {
		t.Fatalf("qr.png: %d %s", p.Status, p.Header.Get("Content-Type"))
	}
	if p := a.Get("/hunanpea/realname/nosuchflowid000000000/qr"); p.Status != http.StatusNotFound {
		t.Fatalf("unknown flow: %d", p.Status)
	}
	h.Clock.Advance(31 * time.Minute)
	if p := a.Get(base + "qr"); p.Status == 200 {
		t.Fatal("an expired flow still answers")
	}
}

func TestCallbackFromTheSameBrowser(t *testing.T) {
	h := jt.New(t, jt.Options{})
	b := h.Browser()
	v := h.Providers.Scan["wechat"]
	h.StartRealName(b, "hunanpea", "wechat")
	s := mustLatest(t, v)
	code, err := v.Confirm(s.UUID, jt.ZhangWei.Identity("wechat"))
	must(t, err)
	q, _ := v.CallbackQuery(s.UUID, code)
	b.Expect(b.Get("/callback/wechat?"+q.Encode()), "realname_identity")
	if p := h.Browser().Get("/callback/wechat?state=unknown&code=x"); p.Step() != "callback_expired" {
		t.Fatalf("unknown state: %q", p.Step())
	}
	if p := h.Browser().Get("/callback/nosuch?" + q.Encode()); p.Status != http.StatusNotFound {
		t.Fatalf("unknown provider: %d", p.Status)
	}
}

func TestDemoPhoneLink(t *testing.T) {
	h := jt.New(t, jt.Options{DemoPhoneURL: "http://127.0.0.1:8081/phone/"})
	b := h.Browser()
	qr := h.StartRealName(b, "hunanpea", "wechat")
	want := "http://127.0.0.1:8081/phone/?qr=" + url.QueryEscape(qr.QR())
	if !qr.Contains(`href="`+strings.ReplaceAll(want, "&", "&amp;")+`"`) || !qr.Contains("在虚拟手机中打开") {
		t.Fatalf("no demo phone link to %s", want)
	}
	if h := jt.New(t, jt.Options{}); h.StartRealName(h.Browser(), "hunanpea", "wechat").Contains("在虚拟手机中打开") {
		t.Fatal("a demo link without a demo phone")
	}
}
