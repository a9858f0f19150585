package alipay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/citizens"
	"github.com/shiming-id/shiming/contrib/sandbox/phone"
)

func authorizeURL(f *fixture, q url.Values) string {
	return f.srv.URL + "/" + HostOpenAuth + authorizePath + "?" + q.Encode()
}

func get(t *testing.T, f *fixture, u string) (*http.Response, []byte) {
	t.Helper()
	resp, err := f.srv.Client().Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestAuthorizePage(t *testing.T) {
	f := newFixture(t)
	good := url.Values{"app_id": {appA}, "scope": {"auth_user"}, "redirect_uri": {"https://gateway.example/cb"}, "state": {"s1"}}
	tests := []struct {
		name    string
		change  func(url.Values)
		status  int
		problem string
	}{
		{"valid", func(url.Values) {}, http.StatusOK, ""},
		{"both scopes", func(q url.Values) { q.Set("scope", "auth_base,auth_user") }, http.StatusOK, ""},
		{"unknown app", func(q url.Values) { q.Set("app_id", "2021000000009999") }, http.StatusBadRequest, problemApp},
		{"missing scope", func(q url.Values) { q.Del("scope") }, http.StatusBadRequest, problemScope},
		{"unknown scope", func(q url.Values) { q.Set("scope", "auth_user,auth_ecard") }, http.StatusBadRequest, problemScope},
		{"missing redirect_uri", func(q url.Values) { q.Del("redirect_uri") }, http.StatusBadRequest, problemRedirect},
		{"relative redirect_uri", func(q url.Values) { q.Set("redirect_uri", "/cb") }, http.StatusBadRequest, problemRedirect},
		{"javascript redirect_uri", func(q url.Values) { q.Set("redirect_uri", "javascript:alert(1)") }, http.StatusBadRequest, problemRedirect},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{}
			for k, v := range good {
				q[k] = append([]string(nil), v...)
			}
			tc.change(q)
			resp, body := get(t, f, authorizeURL(f, q))
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Fatalf("Content-Type %q", ct)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Fatalf("CSP %q", csp)
			}
			if bytes.Contains(body, []byte("<script>")) || bytes.Contains(body, []byte("style=")) {
				t.Fatal("inline script or style in the page")
			}
			if tc.problem != "" {
				if !bytes.Contains(body, []byte(tc.problem)) {
					t.Fatalf("page does not name %s: %s", tc.problem, body)
				}
				return
			}
			if !bytes.Contains(body, []byte("测试报名系统")) || !bytes.Contains(body, []byte("沙箱")) {
				t.Fatalf("page lacks the app name or the sandbox notice: %s", body)
			}
			m := regexp.MustCompile(`<img class="qr" src="([^"]+)"`).FindSubmatch(body)
			if m == nil {
				t.Fatal("no QR image")
			}
			src := strings.ReplaceAll(string(m[1]), "&amp;", "&")
			qrSrc, err := url.Parse(src)
			if err != nil {
				t.Fatal(err)
			}
			if got := qrSrc.Query().Get("c"); got != authorizeURL(f, q) {
				t.Fatalf("QR encodes %q, want the page's own URL %q", got, authorizeURL(f, q))
			}
			resp, png := get(t, f, src)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" || !bytes.HasPrefix(png, []byte("\x89PNG")) {
				t.Fatalf("QR image: status %d type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
		})
	}
	t.Run("QR content too long", func(t *testing.T) {
		resp, _ := get(t, f, f.srv.URL+"/"+HostOpenAuth+qrPath+"?c="+strings.Repeat("a", maxQRContent+1))
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}

func TestScanLoginOnThePhone(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	holder := f.citizen(t, "c001")
	q := url.Values{"app_id": {appA}, "scope": {"auth_user"}, "redirect_uri": {"https://gateway.example/cb?portal=hxw"}, "state": {"xyz 1"}}
	qr := authorizeURL(f, q)

	if len(f.sim.Pending(ctx)) != 0 {
		t.Fatal("items before any scan")
	}
	it, found := f.sim.Lookup(ctx, qr)
	if !found {
		t.Fatal("not recognised")
	}
	if it.Vendor != "alipay" || it.Kind != "scan_login" || it.State != stateWaiting || it.App != appA || it.QRContent != qr {
		t.Fatalf("item %+v", it)
	}
	again, _ := f.sim.Lookup(ctx, qr)
	if again.ID != it.ID {
		t.Fatal("a second scan of the same QR made a second item")
	}
	if p := f.sim.Pending(ctx); len(p) != 1 || p[0].ID != it.ID {
		t.Fatalf("pending %+v", p)
	}
	out, err := f.sim.Act(ctx, it.ID, phone.Scan, holder)
	if err != nil || out.Redirect != "" {
		t.Fatalf("scan: %+v %v", out, err)
	}
	if _, err := f.sim.Act(ctx, it.ID, phone.Scan, holder); !errors.Is(err, phone.ErrNotAllowed) {
		t.Fatalf("second scan: %v", err)
	}
	if _, err := f.sim.Act(ctx, it.ID, phone.Pass, holder); !errors.Is(err, phone.ErrNotAllowed) {
		t.Fatalf("face action on a login: %v", err)
	}
	if _, err := f.sim.Act(ctx, it.ID, phone.Confirm, citizens.Citizen{}); !errors.Is(err, phone.ErrNoHolder) {
		t.Fatalf("confirm without a person: %v", err)
	}
	out, err = f.sim.Act(ctx, it.ID, phone.Confirm, holder)
	if err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`^https://gateway\.example/cb\?portal=hxw&app_id=` + appA + `&source=alipay_wallet&scope=auth_user&auth_code=[0-9a-f]{32}&state=xyz\+1$`)
	if !want.MatchString(out.Redirect) {
		t.Fatalf("redirect %q", out.Redirect)
	}
	if _, err := f.sim.Act(ctx, it.ID, phone.Confirm, holder); !errors.Is(err, phone.ErrNotAllowed) {
		t.Fatalf("second confirm: %v", err)
	}
	if len(f.sim.Pending(ctx)) != 0 {
		t.Fatal("a confirmed login is still pending")
	}
	u, _ := url.Parse(out.Redirect)
	f.token(t, appA, "app_a", u.Query().Get("auth_code"))

	after, found := f.sim.Lookup(ctx, qr)
	if !found || after.ID != it.ID || after.State != stateDone || len(after.Actions) != 0 {
		t.Fatalf("looking a used QR up again: %+v", after)
	}
	f.clock.Advance(loginTTL)
	next, found := f.sim.Lookup(ctx, qr)
	if !found || next.ID == it.ID || next.State != stateWaiting {
		t.Fatalf("scanning the QR once the login expired should start a new one: %+v", next)
	}
}

func TestScanLoginCancelAndExpiry(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	holder := f.citizen(t, "c002")

	it, _ := f.sim.Lookup(ctx, authorizeURL(f, url.Values{"app_id": {appA}, "scope": {"auth_base"}, "redirect_uri": {"https://gateway.example/cb"}, "state": {"s"}}))
	out, err := f.sim.Act(ctx, it.ID, phone.Cancel, holder)
	if err != nil {
		t.Fatal(err)
	}
	if out.Redirect != "https://gateway.example/cb?app_id="+appA+"&source=alipay_wallet&scope=auth_base&state=s&error=access_denied" {
		t.Fatalf("cancel redirect %q", out.Redirect)
	}

	it, _ = f.sim.Lookup(ctx, authorizeURL(f, url.Values{"app_id": {appA}, "scope": {"auth_base"}, "redirect_uri": {"https://gateway.example/cb"}, "state": {"t"}}))
	f.clock.Advance(loginTTL)
	if _, err := f.sim.Act(ctx, it.ID, phone.Confirm, holder); !errors.Is(err, phone.ErrExpired) {
		t.Fatalf("confirm after expiry: %v", err)
	}
	if len(f.sim.Pending(ctx)) != 0 {
		t.Fatal("an expired login is pending")
	}
	if _, err := f.sim.Act(ctx, "alipay-login-nope", phone.Confirm, holder); !errors.Is(err, phone.ErrUnknownItem) {
		t.Fatalf("unknown item: %v", err)
	}
	for _, qr := range []string{
		"weixin://wxpay/bizpayurl?pr=abc",
		"https://open.weixin.qq.com/connect/qrconnect?appid=x",
		authorizeURL(f, url.Values{"app_id": {"2021000000009999"}, "scope": {"auth_base"}, "redirect_uri": {"https://gateway.example/cb"}}),
		"::not a url",
	} {
		if _, found := f.sim.Lookup(ctx, qr); found {
			t.Errorf("Lookup recognised %q", qr)
		}
	}
	realHost := "https://openauth.alipay.com/oauth2/publicAppAuthorize.htm?app_id=" + appA + "&scope=auth_user&redirect_uri=https%3A%2F%2Fgateway.example%2Fcb"
	if _, found := f.sim.Lookup(ctx, realHost); !found {
		t.Error("Lookup does not recognise the real host's URL")
	}
}

func TestDesktopPageFollowsThePhone(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	q := url.Values{"app_id": {appA}, "scope": {"auth_user"}, "redirect_uri": {"https://gateway.example/cb"}, "state": {"d"}}
	resp, body := get(t, f, authorizeURL(f, q))
	if resp.StatusCode != http.StatusOK {
		t.Fatal(resp.Status)
	}
	m := regexp.MustCompile(`data-status-url="([^"]+)"`).FindSubmatch(body)
	if m == nil {
		t.Fatal("no status URL")
	}
	statusURL := strings.ReplaceAll(string(m[1]), "&amp;", "&")
	status := func() (st struct{ State, Redirect string }) {
		resp, b := get(t, f, statusURL)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status endpoint: %d", resp.StatusCode)
		}
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := status(); st.State != stateWaiting || st.Redirect != "" {
		t.Fatalf("%+v", st)
	}
	it, found := f.sim.Lookup(ctx, authorizeURL(f, q))
	if !found {
		t.Fatal("not recognised")
	}
	out, err := f.sim.Act(ctx, it.ID, phone.Confirm, f.citizen(t, "c003"))
	if err != nil {
		t.Fatal(err)
	}
	if out.Redirect != "" {
		t.Fatal("the phone is redirected although the desktop page waits")
	}
	st := status()
	if st.State != stateDone || !strings.Contains(st.Redirect, "auth_code=") {
		t.Fatalf("%+v", st)
	}
	resp, _ = get(t, f, f.srv.URL+"/"+HostOpenAuth+statusPath+"?id=nope")
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown login: %d", resp.StatusCode)
	}
}

func TestSweepForgetsOldState(t *testing.T) {
	f := newFixture(t)
	code := f.login(t, appA, scopeBase, "c001")
	f.clock.Advance(100 * 24 * time.Hour)
	f.sim.issueAuthCode(appA, f.citizen(t, "c002"), []string{scopeBase}) // triggers a sweep
	f.sim.mu.Lock()
	defer f.sim.mu.Unlock()
	if _, kept := f.sim.codes[code]; kept {
		t.Fatal("expired code kept")
	}
	if len(f.sim.logins) != 0 {
		t.Fatalf("%d old logins kept", len(f.sim.logins))
	}
}
