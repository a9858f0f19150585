package e2e_test

import (
	"strings"
	"testing"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

// TestPhoneChangeThenSMSLogin: an existing account changes its phone
// (忘记密码 → 修改手机号码 → name + new phone + SMS code → face → confirm);
// the old phone receives a notice that names the new number masked;
// afterwards 验码登录 works with the new phone and not with the old one.
func TestPhoneChangeThenSMSLogin(t *testing.T) {
	t.Parallel()
	j := newJourney(t, "c006")
	j.register("wechat")
	d := j.d
	const newPhone = "13900001006"
	oldPhone := j.who.Phone

	d.Navigate(j.url("/" + portal + "/"))
	d.WaitPage("portal")
	d.Submit(`a[data-action="forgot"]`)
	d.WaitPage("forgot")
	d.Fill(`#f-id_number`, j.who.IDNumber)
	d.Submit(`button[data-action="forgot"]`)
	d.WaitPage("forgot_options")
	if txt := d.Text("main"); !strings.Contains(txt, cnid.MaskID(j.who.IDNumber)) || strings.Contains(txt, j.who.IDNumber) {
		d.Fatalf("the options page shows %q", txt)
	}
	if got := d.Text(`a[data-action="change-phone"]`); got != "修改手机号码" {
		d.Fatalf("the change-phone button is %q", got)
	}
	d.Submit(`a[data-action="change-phone"]`)
	d.WaitPage("forgot_change")
	d.Fill(`#f-name`, j.who.Name)
	d.Fill(`#f-phone`, newPhone)
	changeSent := time.Now()
	d.Submit(`button[data-action="send"]`)
	d.WaitFor(`form[data-sms-sent]`)
	// The code form carries the typed name to the server (hidden).
	if got := d.Attr(`form[data-sms-sent] input[name="name"]`, "value"); got != j.who.Name {
		d.Fatalf("after 发送验证码 the 修改手机号码 page forgot the typed 姓名: the code form sends name=%q", got)
	}
	code, err := j.sb.WaitCode(j.ctx, newPhone, changeSent)
	if err != nil {
		d.Fatalf("%v", err)
	}
	d.Fill(`#f-code`, code)
	d.Submit(`button[data-action="verify"]`)
	d.WaitPage("face")
	d.Submit(`button[data-action="start-face"]`)
	j.expectFaceQR()
	if qr := j.qr(); !strings.Contains(qr, "/openapi.alipay.com/") {
		d.Fatalf("the phone-change face QR is %q, want Alipay's certify URL", qr)
	}
	j.act(j.qr(), "pass")
	d.WaitPage("forgot_confirm")
	change := d.Text(`[data-change]`)
	if !strings.Contains(change, cnid.MaskPhone(oldPhone)) || !strings.Contains(change, cnid.MaskPhone(newPhone)) {
		d.Fatalf("the confirmation shows %q", change)
	}
	d.Submit(`button[data-action="confirm"]`)
	d.WaitPage("message")
	if txt := d.Text("main"); !strings.Contains(txt, "验码登录") {
		d.Fatalf("the done page says %q", txt)
	}
	// The old phone was told, once, with the new number masked (ASVS
	// 6.3.7): the only message without a code it ever received.
	msgs, err := j.sb.Inbox(j.ctx, oldPhone)
	if err != nil {
		d.Fatalf("inbox of the old phone: %v", err)
	}
	var told []string
	for _, m := range msgs {
		if m.Code == "" {
			told = append(told, m.Text)
		}
	}
	if len(told) != 1 || !strings.Contains(told[0], "绑定手机号已变更为"+cnid.MaskPhone(newPhone)) || strings.Contains(told[0], newPhone) {
		d.Fatalf("the old phone received %q, want one notice with the new number masked", told)
	}

	// 验码登录 with the new phone. A code went to it moments ago for the
	// change; the page says when the next one may be sent.
	d.Navigate(j.url("/" + portal + "/login?tab=sms"))
	d.WaitPage("login")
	d.Fill(`#f-phone`, newPhone)
	d.Submit(`button[data-action="send"]`)
	if d.Count(`form[data-sms-sent]`) == 0 {
		if !d.Has(`.notice[data-error-kind="rate_limited"]`) {
			d.Fatalf("the second code within a minute was neither sent nor refused with a wait")
		}
		// The gateway's resend wait and the vendor's per-minute limit.
		select {
		case <-time.After(time.Until(changeSent.Add(62 * time.Second))):
		case <-j.ctx.Done():
			d.Fatalf("%v", j.ctx.Err())
		}
		d.Eventually("a login code to the new phone", 30*time.Second, func() bool {
			d.Fill(`#f-phone`, newPhone)
			d.Submit(`button[data-action="send"]`)
			return d.Count(`form[data-sms-sent]`) > 0
		})
	}
	code, err = j.sb.WaitCode(j.ctx, newPhone, changeSent.Add(time.Second))
	if err != nil || code == "" {
		d.Fatalf("no login code: %v", err)
	}
	d.Fill(`#f-code`, code)
	d.Submit(`button[data-action="login-sms"]`)
	d.WaitPage("home")
	j.expectHome()
	if got := d.Text(`[data-masked="phone"]`); got != cnid.MaskPhone(newPhone) {
		d.Fatalf("home shows the phone %q, want %q", got, cnid.MaskPhone(newPhone))
	}
	d.Submit(`main button[data-action="logout"]`)
	d.WaitPage("message")

	// The old phone no longer signs anyone in.
	d.Navigate(j.url("/" + portal + "/login?tab=sms"))
	d.WaitPage("login")
	d.Fill(`#f-phone`, oldPhone)
	d.Submit(`button[data-action="send"]`)
	d.WaitPage("login")
	if !d.Has(`.notice[data-error-kind="wrong_credentials"]`) || d.Count(`form[data-sms-sent]`) != 0 {
		d.Fatalf("the old phone was not refused")
	}
	if d.Attr("body", "data-signed-in") != "" {
		d.Fatalf("signed in with the old phone")
	}
}

// govLogin presses the portal's 政务服务网登录 and signs in at the
// sandbox's government IdP as the journey's citizen.
func (j *journey) govLogin() {
	j.t.Helper()
	d := j.d
	d.Navigate(j.url("/" + portal + "/"))
	d.WaitPage("portal")
	if got := d.Text(`a[data-action="oidc"][data-issuer="zwfw"]`); !strings.Contains(got, "政务服务网") || !strings.HasSuffix(got, "登录") {
		d.Fatalf("the government-portal button is %q", got)
	}
	d.Submit(`a[data-action="oidc"][data-issuer="zwfw"]`)
	d.WaitFor(`input#id_number`)
	if loc := d.Location(); !strings.HasPrefix(loc, j.srv.SandboxURL+"/govidp/") {
		d.Fatalf("政务服务网登录 led to %s", loc)
	}
	if title := d.Text("body"); !strings.Contains(title, "统一身份认证") {
		d.Fatalf("the IdP's login page says %q", title)
	}
	d.Fill(`input#id_number`, j.who.IDNumber)
	d.Fill(`input#password`, "sandbox123")
	d.Submit(`form button[type="submit"]`)
}

// TestGovPortalLoginLinksAnExistingAccount: a citizen with an account
// signs in at the government portal; its trusted real-name claims find
// the account, which is linked and signed in.
func TestGovPortalLoginLinksAnExistingAccount(t *testing.T) {
	t.Parallel()
	j := newJourney(t, "c007")
	j.register("alipay")
	j.govLogin()
	j.d.WaitPage("home")
	j.expectHome()
	if ev := j.d.Text(`[data-evidence]`); !strings.Contains(ev, "支付宝") {
		j.d.Fatalf("the evidence list of the linked account is %q", ev)
	}
}

// TestGovPortalLoginWithoutAccountRegisters: a citizen without an
// account is sent into registration, pre-filled from the claims (no scan,
// no 实名登录), and finishes it.
func TestGovPortalLoginWithoutAccountRegisters(t *testing.T) {
	t.Parallel()
	j := newJourney(t, "c008")
	d := j.d
	j.govLogin()
	d.WaitPage("realname_phone")
	txt := d.Text("main")
	if !strings.Contains(txt, maskName(j.who.Name)) || !strings.Contains(txt, cnid.MaskID(j.who.IDNumber)) {
		d.Fatalf("the pre-filled registration shows %q", txt)
	}
	if cur := d.Text(`.steps [aria-current="step"]`); cur != "绑定手机" {
		d.Fatalf("the current step is %q", cur)
	}
	j.bindPhone(j.who.Phone)
	j.passFace("realname_password")
	j.setPassword()
	j.login()
	if ev := j.d.Text(`[data-evidence]`); !strings.Contains(ev, "政务服务网") {
		j.d.Fatalf("the evidence list is %q", ev)
	}
}

// TestPhoneGetsTheDesktopOnlyPage: a phone or tablet opening a portal
// page gets HTTP 200 with the page explaining that a computer is needed.
func TestPhoneGetsTheDesktopOnlyPage(t *testing.T) {
	t.Parallel()
	_, b := env(t)
	srv := shared.srv
	for _, ua := range []struct{ name, ua string }{
		{"iphone-wechat", phoneUA},
		{"ipad", "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"},
		{"android", "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"},
	} {
		s := b.Session(t, ua.name)
		s.SetUserAgent(ua.ua)
		p := s.Tab("main")
		for _, path := range []string{"/" + portal + "/", "/" + portal + "/realname/", "/" + portal + "/login"} {
			if st := p.NavigateStatus(srv.URL + path); st != 200 {
				p.Fatalf("%s: HTTP %d, want 200", path, st)
			}
			p.WaitPage("desktop")
			if txt := p.Text("main"); !strings.Contains(txt, "台式电脑或笔记本电脑") {
				p.Fatalf("%s: the desktop-only page says %q", path, txt)
			}
		}
	}
}
