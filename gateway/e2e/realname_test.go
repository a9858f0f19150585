package e2e_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shiming-id/shiming/gateway/e2e/chromium"
)

// TestRegisterWithWeChatOnTheVirtualPhone is the README's walkthrough:
// real-name registration with WeChat, the phone played by a person on the
// sandbox's virtual phone page in a second tab; the desktop page moves on
// by itself; then login, home, 完成并退出, and the old session is dead.
func TestRegisterWithWeChatOnTheVirtualPhone(t *testing.T) {
	t.Parallel()
	j := newJourney(t, "c001")
	d := j.d
	d.Navigate(j.url("/" + portal + "/"))
	d.WaitPage("portal")
	for _, label := range []string{"获取实名认证", "登录", "忘记密码"} {
		if !strings.Contains(d.Text(`[data-entry]`), label) {
			d.Fatalf("the portal's entry buttons lack %s", label)
		}
	}
	d.Submit(`a[data-action="realname"]`)
	d.WaitPage("realname_intro")
	if got := d.Text(`button[data-action="start"]`); got != "开始实名认证" {
		d.Fatalf("start button %q", got)
	}
	d.Submit(`button[data-action="start"]`)
	d.WaitPage("realname_choose")
	if got := d.Text(`button[data-provider="wechat"]`); got != "微信" {
		d.Fatalf("WeChat button %q", got)
	}
	requests := d.Requests()
	d.Submit(`button[data-provider="wechat"]`)
	d.WaitPage("qr")
	qr := j.qr()
	demo := d.Attr(`a[data-demo-phone]`, "href")
	if !strings.HasPrefix(demo, j.srv.SandboxURL+"/phone/?qr=") {
		d.Fatalf("在虚拟手机中打开 links to %q", demo)
	}

	// The phone, in a second tab: choose who holds it, open the QR
	// content, press 扫码.
	ph := j.desktop.Tab("virtual-phone")
	ph.Navigate(j.srv.SandboxURL + "/phone/")
	ph.WaitFor(`select[name="citizen"]`)
	ph.Select(`select[name="citizen"]`, j.who.Key)
	ph.Submit(`form[action="holder"]:has(select[name="citizen"]) button`)
	ph.WaitFor(`.holder .current`)
	if cur := ph.Text(`.holder .current`); !strings.Contains(cur, j.who.Name) {
		ph.Fatalf("the phone's holder is %q", cur)
	}
	ph.Fill(`.scan input[name="qr"]`, qr)
	ph.Submit(`.scan form[method="get"] button`)
	ph.WaitFor(`.scan .item.scanned`)
	buttons := ph.Text(`.scan .item.scanned form`)
	for _, label := range []string{"扫码", "确认登录", "取消"} {
		if !strings.Contains(buttons, label) {
			ph.Fatalf("the scanned WeChat item offers %q, no %s", buttons, label)
		}
	}
	ph.Submit(`.scan .item.scanned button[value="scan"]`)
	ph.WaitFor(`.outcome`)

	// The desktop's own poll tells the candidate to confirm.
	d.Eventually("the desktop to see the scan", 20*time.Second, func() bool {
		return d.Attr(`[data-status-url]`, "data-phase") == "scanned"
	})
	if got := d.Text(`.qr-status`); got != "已扫码，请在手机上确认。" {
		d.Fatalf("status after the scan: %q", got)
	}

	// 在虚拟手机中打开 brings the phone back to the item: 确认登录.
	ph.Navigate(demo)
	ph.WaitFor(`.scan .item.scanned button[value="confirm"]`)
	ph.Submit(`.scan .item.scanned button[value="confirm"]`)
	ph.WaitFor(`.outcome`)

	// The desktop moves on by itself: its script polled the status.
	d.WaitPage("realname_identity")
	if polls := countStatusPolls(requests()); polls == 0 {
		d.Fatalf("the QR page moved on without polling its status")
	}
	j.identity(j.who.Name, j.who.IDNumber)
	d.WaitPage("realname_phone")

	// Bind the phone; the code is read in the virtual phone's inbox.
	d.Fill(`#f-phone`, j.who.Phone)
	d.Submit(`button[data-action="send"]`)
	d.WaitFor(`form[data-sms-sent]`)
	ph.Navigate(j.srv.SandboxURL + "/phone/")
	ph.WaitFor(`.sms .message .code`)
	code := ph.Text(`.sms .message .code`)
	if !regexp.MustCompile(`^[0-9]{4,8}$`).MatchString(code) {
		ph.Fatalf("the inbox shows the code %q", code)
	}
	d.Fill(`#f-code`, code)
	d.Submit(`button[data-action="verify"]`)

	// 开始人脸识别, passed on the virtual phone.
	d.WaitPage("face")
	if got := d.Text(`button[data-action="start-face"]`); got != "开始人脸识别" {
		d.Fatalf("face button %q", got)
	}
	d.Submit(`button[data-action="start-face"]`)
	j.expectFaceQR()
	faceDemo := d.Attr(`a[data-demo-phone]`, "href")
	ph.Navigate(faceDemo)
	ph.WaitFor(`.scan .item.scanned button[value="pass"]`)
	if got := ph.Text(`.scan .item.scanned button[value="pass"]`); got != "完成人脸核验" {
		ph.Fatalf("the face item's pass button is %q", got)
	}
	ph.Submit(`.scan .item.scanned button[value="pass"]`)
	ph.WaitFor(`.outcome`)
	d.WaitPage("realname_password")

	j.setPassword()
	j.login()
	evidence := d.Text(`[data-evidence]`)
	for _, want := range []string{"微信", "姓名与身份证号码核验", "手机号码验证", "人脸识别"} {
		if !strings.Contains(evidence, want) {
			d.Fatalf("the evidence list %q lacks %s", evidence, want)
		}
	}
	if got := d.Text(`a[data-action="exam"]`); got != "开始报名" {
		d.Fatalf("exam link %q", got)
	}

	// 完成并退出: the session ends on the server, not only in the browser.
	old := d.Cookies(j.url("/"))
	if len(old) == 0 {
		d.Fatalf("no session cookie while signed in")
	}
	d.Submit(`main button[data-action="logout"]`)
	d.WaitPage("message")
	if step := d.Step(); step != "logged_out" {
		d.Fatalf("after 完成并退出 the step is %q", step)
	}
	d.SetCookies(j.url("/"), old)
	d.Navigate(j.url("/" + portal + "/home"))
	d.WaitPage("login")
	if d.Attr("body", "data-signed-in") != "" {
		d.Fatalf("the old session still signs the browser in")
	}
	screenshot(t, d, "wechat-login-after-logout")
}

// screenshot keeps a picture of the tab in the artifacts folder when
// SHIMING_E2E_ARTIFACTS is set, for people to look at.
func screenshot(t *testing.T, tab *chromium.Tab, name string) {
	t.Helper()
	if !artifactsWanted() {
		return
	}
	dir, err := chromium.ArtifactsDir(t)
	if err != nil {
		t.Fatal(err)
	}
	tab.Screenshot(dir + "/" + name + ".png")
}

// TestRegisterWithAlipay: the phone's Confirm returns a redirect that the
// phone's own browser (no desktop cookies) opens; the desktop moves on.
// Alipay vouches for name and ID number, which the 实名登录 page says.
func TestRegisterWithAlipay(t *testing.T) {
	t.Parallel()
	j := newJourney(t, "c002")
	d := j.d
	qr := j.startScan("alipay")
	if !strings.Contains(qr, "/openauth.alipay.com/oauth2/publicAppAuthorize.htm?") {
		d.Fatalf("the Alipay QR holds %q", qr)
	}
	j.act(qr, "scan")
	res := j.act(qr, "confirm")
	if !strings.HasPrefix(res.Outcome.Redirect, j.srv.URL+"/callback/alipay?") {
		d.Fatalf("the phone's confirmation leads to %q", res.Outcome.Redirect)
	}
	j.phoneBrowserOpens(res.Outcome.Redirect)
	d.WaitPage("realname_identity")
	// What the page shows: a note that Alipay provided the identity, and
	// empty fields (typed values are compared with Alipay's).
	if txt := d.Text("main"); !strings.Contains(txt, "支付宝已提供您的实名信息") {
		d.Fatalf("the 实名登录 page after Alipay says %q", txt)
	}
	if v := d.Value(`#f-name`) + d.Value(`#f-id_number`); v != "" {
		d.Fatalf("the 实名登录 fields are pre-filled with %q", v)
	}
	j.identity(j.who.Name, j.who.IDNumber)
	d.WaitPage("realname_phone")
	j.bindPhone(j.who.Phone)
	j.passFace("realname_password")
	j.setPassword()
	j.login()
	if ev := d.Text(`[data-evidence]`); !strings.Contains(ev, "支付宝") || !strings.Contains(ev, "人脸识别") {
		d.Fatalf("the evidence list is %q", ev)
	}
}

// TestNameIDMismatchThenCTID: 刘䶮's name has a rare character the
// registry holds as 刘岩. WeChat + the name/ID check fail; the page
// explains and offers CTID; the card's chip holds the right name.
func TestNameIDMismatchThenCTID(t *testing.T) {
	t.Parallel()
	j := newJourney(t, "c035")
	d := j.d
	if j.who.RegistryName == j.who.Name {
		t.Fatalf("%s's registry name is the card's", j.who.Key)
	}
	qr := j.startScan("wechat")
	j.scanOnPhone("wechat", qr)
	j.identity(j.who.Name, j.who.IDNumber)
	d.WaitPage("realname_mismatch")
	if !d.Has(`.notice[data-error-kind="name_id_mismatch"]`) {
		d.Fatalf("the mismatch page has no name_id_mismatch notice")
	}
	txt := d.Text("main")
	for _, want := range []string{"姓名和身份证号码不匹配", "生僻字", "网证CTID"} {
		if !strings.Contains(txt, want) {
			d.Fatalf("the mismatch page does not mention %s: %q", want, txt)
		}
	}
	if got := d.Text(`button[data-action="ctid"]`); got != "改用网证CTID认证" {
		d.Fatalf("the CTID button is %q", got)
	}
	d.Submit(`button[data-action="ctid"]`)
	d.WaitPage("qr")
	ctidQR := j.qr()
	if !strings.Contains(ctidQR, "/ctid.sandbox/app/auth?bsn=") {
		d.Fatalf("the CTID QR holds %q", ctidQR)
	}
	j.scanOnPhone("ctid", ctidQR)
	j.identity(j.who.Name, j.who.IDNumber)
	d.WaitPage("realname_phone")
	sawHealed(t, "name_id_mismatch")
	j.bindPhone(j.who.Phone)
	j.passFace("realname_password")
	j.setPassword()
	j.login()
}

// TestRegisterWithoutJavaScript: with scripts off nothing polls; the
// candidate presses 我已扫码 and 我已完成.
func TestRegisterWithoutJavaScript(t *testing.T) {
	t.Parallel()
	j := newJourney(t, "c005")
	d := j.d
	d.DisableScripts()
	requests := d.Requests()
	qr := j.startScan("wechat")
	if d.Text(`button[data-action="check"]`) != "我已扫码" {
		d.Fatalf("no 我已扫码 button")
	}
	// Pressed too early, it says calmly what to do.
	d.Submit(`button[data-action="check"]`)
	d.WaitPage("qr")
	if got := d.Text(`.qr-status`); !strings.Contains(got, "还没有收到手机上的确认") {
		d.Fatalf("我已扫码 before the scan says %q", got)
	}
	j.scanOnPhone("wechat", qr)
	pressUntil(d, `button[data-action="check"]`, "realname_identity")
	j.identity(j.who.Name, j.who.IDNumber)
	d.WaitPage("realname_phone")
	j.bindPhone(j.who.Phone)
	d.WaitPage("face")
	d.Submit(`button[data-action="start-face"]`)
	j.expectFaceQR()
	if d.Text(`button[data-action="check"]`) != "我已完成" {
		d.Fatalf("no 我已完成 button on the face page")
	}
	j.act(j.qr(), "pass")
	pressUntil(d, `button[data-action="check"]`, "realname_password")
	if polls := countStatusPolls(requests()); polls != 0 {
		d.Fatalf("with JavaScript off the QR pages polled their status %d times", polls)
	}
	j.setPassword()
	j.login()
}

// countStatusPolls counts the QR pages' status polls among urls.
func countStatusPolls(urls []string) int {
	n := 0
	for _, u := range urls {
		if strings.HasSuffix(u, "/status") {
			n++
		}
	}
	return n
}

// pressUntil presses the button until the page named next appears; the
// gateway asks the vendor at most once per poll interval, so a press
// right after the phone acted may still see the old state.
func pressUntil(d *chromium.Tab, button, next string) {
	d.Eventually("page "+next, 30*time.Second, func() bool {
		if d.Page() == next {
			return true
		}
		d.Submit(button)
		return d.Page() == next
	})
}
