// The end-to-end tests run the real shiming binary (embedded default:
// SQLite, the sandbox, the four built-in plugins as processes, the
// sample exam) and drive it with headless Chromium as candidates do,
// playing the phone through the sandbox's virtual phone. One server
// serves the whole package; every test uses its own browser context and
// its own fictional citizen (accounts are unique per ID number). After
// the tests, the server's metrics must show the self-healing they
// caused.
package e2e_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/sandboxclient"
	"github.com/shiming-id/shiming/gateway/e2e/chromium"
	"github.com/shiming-id/shiming/gateway/e2e/harness"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

// portal is the portal the journeys use unless a test says otherwise.
const portal = "hunanpea"

// password is the candidates' password (letters and digits, not their
// ID number or phone).
const password = "Kaoshi2026ok"

var (
	shiming harness.Build

	shared struct {
		once sync.Once
		srv  *harness.Server
		err  error
	}
	chrome struct {
		once sync.Once
		b    *chromium.Browser
		err  error
	}

	// healed records the error kinds whose self-healing a test saw, for
	// the metrics check after the tests.
	healed sync.Map
)

func TestMain(m *testing.M) {
	code := m.Run()
	code = finish(code)
	os.Exit(code)
}

// finish checks the metrics, stops the server (which must exit 0) and
// the browser, and keeps the server's folder when anything failed.
func finish(code int) int {
	defer shiming.Cleanup()
	if chrome.b != nil {
		chrome.b.Close()
	}
	srv := shared.srv
	if srv == nil {
		return code
	}
	if err := checkHealingMetrics(srv); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: metrics after the journeys: %v\n", err)
		code = 1
	}
	if err := srv.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
		code = 1
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "shiming's output and data are kept in %s\n", srv.Dir)
		return code
	}
	srv.Remove()
	return code
}

// checkHealingMetrics asserts that every error kind a test saw the
// gateway heal was counted as an error and as a recovery.
func checkHealingMetrics(srv *harness.Server) error {
	var kinds []string
	healed.Range(func(k, _ any) bool { kinds = append(kinds, k.(string)); return true })
	sort.Strings(kinds)
	for _, want := range []string{"code_reused", "uuid_invalid", "name_id_mismatch"} {
		if _, ok := healed.Load(want); !ok {
			fmt.Fprintf(os.Stderr, "note: no journey saw %s healed in this run; its metrics are not checked\n", want)
		}
	}
	if len(kinds) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := srv.Metrics(ctx)
	if err != nil {
		return err
	}
	var problems []string
	for _, k := range kinds {
		for _, name := range []string{"shiming_realname_errors_total", "shiming_realname_recoveries_total"} {
			v, ok := m.Sum(name, "kind", k)
			if !ok || v <= 0 {
				problems = append(problems, fmt.Sprintf("%s{kind=%q} = %v (series present: %v) after %v", name, k, v, ok, testsOf(k)))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	fmt.Fprintf(os.Stderr, "metrics: errors and recoveries counted for %s\n", strings.Join(kinds, ", "))
	return nil
}

func testsOf(kind string) string {
	v, _ := healed.Load(kind)
	s, _ := v.(string)
	return s
}

// sawHealed records that t saw the gateway heal an error of kind (the
// page moved on past it), for the metrics check after the tests.
func sawHealed(t *testing.T, kind string) {
	healed.Store(kind, t.Name())
}

// env returns the shared server and browser, starting them on first use.
// Without Chromium the test skips (fails under CI=true) before anything
// is built.
func env(t *testing.T) (*harness.Server, *chromium.Browser) {
	t.Helper()
	exe := chromium.Require(t)
	bin := shiming.Path(t)
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		shared.srv, shared.err = harness.StartServer(ctx, bin, harness.Options{})
	})
	if shared.err != nil {
		t.Fatalf("start shiming: %v", shared.err)
	}
	chrome.once.Do(func() { chrome.b, chrome.err = chromium.Launch(exe) })
	if chrome.err != nil {
		t.Fatalf("start Chromium: %v", chrome.err)
	}
	return shared.srv, chrome.b
}

// journey is one candidate at a desktop browser, with the sandbox
// playing their phone.
type journey struct {
	t   *testing.T
	ctx context.Context
	srv *harness.Server
	sb  *sandboxclient.Client
	b   *chromium.Browser
	// desktop is the candidate's browser context; d its first tab.
	desktop *chromium.Session
	d       *chromium.Tab
	who     sandboxclient.Citizen
}

// newJourney prepares a journey of the citizen with key.
func newJourney(t *testing.T, key string) *journey {
	t.Helper()
	srv, b := env(t)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	t.Cleanup(cancel)
	sb := srv.Sandbox()
	who, err := sb.Citizen(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	j := &journey{t: t, ctx: ctx, srv: srv, sb: sb, b: b, who: who}
	j.desktop = b.Session(t, "desktop")
	j.d = j.desktop.Tab("main")
	return j
}

func (j *journey) url(path string) string { return j.srv.URL + path }

// act does an action on the phone as the journey's citizen.
func (j *journey) act(qr, action string) sandboxclient.ActResult {
	j.t.Helper()
	res, err := j.sb.Act(j.ctx, qr, action, j.who.Key)
	if err != nil {
		j.d.Fatalf("phone %s as %s: %v", action, j.who.Key, err)
	}
	return res
}

// startScan goes from the portal's home to the QR page of provider and
// returns the QR content.
func (j *journey) startScan(provider string) string {
	j.t.Helper()
	d := j.d
	d.Navigate(j.url("/" + portal + "/"))
	d.WaitPage("portal")
	d.Submit(`a[data-action="realname"]`)
	d.WaitPage("realname_intro")
	d.Submit(`button[data-action="start"]`)
	d.WaitPage("realname_choose")
	d.Submit(`button[data-provider="` + provider + `"]`)
	d.WaitPage("qr")
	return j.qr()
}

// qr is the QR content the page shows.
func (j *journey) qr() string {
	j.t.Helper()
	j.d.WaitFor(`img[data-qr]`)
	return j.d.Attr(`img[data-qr]`, "data-qr")
}

// freshQR waits until the page shows a QR other than old, with a notice
// of kind, and returns it.
func (j *journey) freshQR(old, kind string) string {
	j.t.Helper()
	d := j.d
	d.Timeout = 45 * time.Second
	d.WaitFor(`.notice[data-error-kind="` + kind + `"]`)
	d.Timeout = chromium.DefaultTimeout
	fresh := j.qr()
	if fresh == "" || fresh == old {
		d.Fatalf("after %s the page shows the QR %q again", kind, fresh)
	}
	return fresh
}

// scanOnPhone scans and confirms qr on the phone (WeChat, Alipay) or
// reads the card (CTID); for Alipay the phone's own browser opens the
// confirmation's redirect.
func (j *journey) scanOnPhone(provider, qr string) {
	j.t.Helper()
	if provider == "ctid" {
		j.act(qr, "read")
		return
	}
	j.act(qr, "scan")
	res := j.act(qr, "confirm")
	if res.Outcome.Redirect != "" {
		j.phoneBrowserOpens(res.Outcome.Redirect)
	}
}

// phoneBrowserOpens opens u in a browser context of its own with a
// phone's user agent: the phone's browser has none of the desktop's
// cookies. It expects the gateway's "back to the computer" page.
func (j *journey) phoneBrowserOpens(u string) {
	j.t.Helper()
	phone := j.b.Session(j.t, "phone-browser")
	phone.SetUserAgent(phoneUA)
	p := phone.Tab("callback")
	if st := p.NavigateStatus(u); st != 200 {
		p.Fatalf("the phone's browser got HTTP %d for the vendor's redirect", st)
	}
	p.WaitPage("message")
	if step := p.Step(); step != "callback_continue" {
		p.Fatalf("the phone's browser shows step %q, want callback_continue", step)
	}
	if txt := p.Text("main"); !strings.Contains(txt, "请回到电脑继续") {
		p.Fatalf("the phone's browser shows %q", txt)
	}
}

// identity fills 实名登录.
func (j *journey) identity(name, idNumber string) {
	j.t.Helper()
	d := j.d
	d.WaitPage("realname_identity")
	d.Fill(`#f-name`, name)
	d.Fill(`#f-id_number`, idNumber)
	d.Submit(`button[data-action="identity"]`)
}

// bindPhone sends a code to phone on the page, reads it in the sandbox
// inbox and submits it.
func (j *journey) bindPhone(phone string) {
	j.t.Helper()
	d := j.d
	d.Fill(`#f-phone`, phone)
	since := time.Now()
	d.Submit(`button[data-action="send"]`)
	d.WaitFor(`form[data-sms-sent]`)
	code, err := j.sb.WaitCode(j.ctx, phone, since)
	if err != nil {
		d.Fatalf("%v", err)
	}
	d.Fill(`#f-code`, code)
	d.Submit(`button[data-action="verify"]`)
}

// passFace starts the face verification, passes it on the phone and
// waits until the page moved on by itself to next.
func (j *journey) passFace(next string) {
	j.t.Helper()
	d := j.d
	d.WaitPage("face")
	d.Submit(`button[data-action="start-face"]`)
	j.expectFaceQR()
	j.act(j.qr(), "pass")
	d.WaitPage(next)
}

// expectFaceQR fails with the page's own explanation when 开始人脸识别
// did not lead to a face QR code.
func (j *journey) expectFaceQR() {
	j.t.Helper()
	d := j.d
	d.Eventually("the face QR page", 20*time.Second, func() bool {
		switch d.Page() {
		case "qr":
			return true
		case "face":
			if d.Count(`.notice[data-error-kind]`) > 0 {
				d.Fatalf("开始人脸识别 did not start: notice %s %q", d.Attr(`.notice[data-error-kind]`, "data-error-kind"), d.Text(`.notice`))
			}
		}
		return false
	})
}

// setPassword sets the password and expects the portal's login page
// with the registered notice.
func (j *journey) setPassword() {
	j.t.Helper()
	d := j.d
	d.WaitPage("realname_password")
	d.Fill(`#f-password`, password)
	d.Fill(`#f-password2`, password)
	d.Submit(`button[data-action="password"]`)
	d.WaitPage("login")
	if !d.Has(`.notice[data-error-kind="registered"]`) || !strings.Contains(d.Location(), "registered=1") {
		d.Fatalf("the login page after registration has no registered notice")
	}
	if d.Attr("body", "data-portal") != portal {
		d.Fatalf("registration ended on portal %q", d.Attr("body", "data-portal"))
	}
}

// login signs in with ID number and password and expects the home page.
func (j *journey) login() {
	j.t.Helper()
	d := j.d
	d.Navigate(j.url("/" + portal + "/login?tab=password"))
	d.WaitPage("login")
	d.Fill(`#f-id_number`, j.who.IDNumber)
	d.Fill(`#f-password`, password)
	d.Submit(`button[data-action="login-password"]`)
	d.WaitPage("home")
	j.expectHome()
}

// expectHome checks the signed-in home shows the masked identity.
func (j *journey) expectHome() {
	j.t.Helper()
	d := j.d
	if d.Attr("body", "data-signed-in") != "1" {
		d.Fatalf("the home page is not signed in")
	}
	if name := d.Text(`[data-masked="name"]`); name != maskName(j.who.Name) {
		d.Fatalf("home shows the name %q, want %q", name, maskName(j.who.Name))
	}
	if id := d.Text(`[data-masked="id_number"]`); id != cnid.MaskID(j.who.IDNumber) {
		d.Fatalf("home shows the ID number %q, want %q", id, cnid.MaskID(j.who.IDNumber))
	}
}

// register runs the whole registration of the journey's citizen over
// HTTP, without the browser: the quick way to an existing account.
func (j *journey) register(provider string) {
	j.t.Helper()
	c := j.srv.Candidate(j.t)
	c.Register(j.ctx, portal, provider, j.who, password)
}

func maskName(name string) string {
	r := []rune(name)
	return string(r[0]) + strings.Repeat("*", len(r)-1)
}

// phoneUA is a phone's browser (WeChat's in-app browser on an iPhone).
const phoneUA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.49"

// artifactsWanted reports whether SHIMING_E2E_ARTIFACTS asks for the
// pictures of passing tests too.
func artifactsWanted() bool { return os.Getenv(chromium.EnvArtifacts) != "" }
