package portal_test

import (
	"net/http"
	"net/url"
	"testing"

	jt "github.com/shiming-id/shiming/gateway/journey/journeytest"
	"github.com/shiming-id/shiming/gateway/portal"
)

func TestIsMobile(t *testing.T) {
	tests := []struct {
		name, ua string
		mobile   bool
	}{
		{"Chrome on Windows", jt.DesktopUA, false},
		{"Firefox on Linux", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", false},
		{"Safari on a Mac", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15", false},
		{"WeChat on an iPhone", jt.PhoneUA, true},
		{"iPad", "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1", true},
		{"Android phone", "Mozilla/5.0 (Linux; Android 14; 23127PN0CC) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36", true},
		{"Android tablet", "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36", true},
		{"Alipay", "Mozilla/5.0 (Linux; U; Android 12) AlipayClient/10.5.36", true},
		{"HarmonyOS phone", "Mozilla/5.0 (Phone; OpenHarmony 4.1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0 Safari/537.36 ArkWeb/4.1.6.1 Mobile", true},
		{"HarmonyOS computer", "Mozilla/5.0 (PC; OpenHarmony 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0 Safari/537.36 ArkWeb/4.1.6.1", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := portal.IsMobile(tc.ua); got != tc.mobile {
				t.Fatalf("IsMobile = %v", got)
			}
		})
	}
}

func TestDesktopOnly(t *testing.T) {
	h := jt.New(t, jt.Options{})
	desk := h.Browser()
	qr := h.StartRealName(desk, "hxw", "wechat")
	phone := h.Browser()
	phone.UserAgent = jt.PhoneUA
	n := 0
	for _, path := range []string{"/hxw/", "/hxw/realname/", "/hxw/login", "/hxw/forgot", "/hxw/home", qr.URL.Path} {
		p := phone.Get(path)
		n++
		if p.Status != http.StatusOK || p.Name() != "desktop" || !p.HasErrorKind("desktop_only") || !p.Contains("台式电脑或笔记本电脑") {
			t.Fatalf("%s from a phone: %d %q", path, p.Status, p.Name())
		}
		if got := h.Counter("shiming_desktop_only_rejections_total", "portal", "hxw"); got != float64(n) {
			t.Fatalf("counter %v after %d pages", got, n)
		}
	}
	if got := h.Counter("shiming_desktop_only_rejections_total", "portal", "hunanpea"); got != 0 {
		t.Fatalf("another portal counted %v", got)
	}
	// Vendor callbacks and static files are for phones too.
	if p := phone.Get("/callback/wechat?state=nothing"); p.Name() != "message" {
		t.Fatalf("callback from a phone: %q", p.Name())
	}
	if p := phone.Get("/static/qr.js"); p.Status != http.StatusOK {
		t.Fatalf("static from a phone: %d", p.Status)
	}
}

func TestPortalPages(t *testing.T) {
	h := jt.New(t, jt.Options{})
	b := h.Browser()
	p := b.Expect(b.Get("/"), "portals")
	for _, id := range []string{"hunanpea", "hxw", "zwfw"} {
		if !contains(p.Attrs("portal-link"), id) {
			t.Errorf("chooser lacks %s", id)
		}
	}
	home := b.Expect(b.Get("/zwfw/"), "portal")
	for _, s := range []string{"获取实名认证", "登录", "忘记密码", "不得使用平板或手机", "关闭浏览器", "更换谷歌、火狐等浏览器", "避开首日及结束日"} {
		if !home.Contains(s) {
			t.Errorf("portal home lacks %q", s)
		}
	}
	if home.Contains("开始报名") {
		t.Error("开始报名 shown before sign-in")
	}
	if p := b.Get("/nosuchportal/"); p.Status != http.StatusNotFound {
		t.Fatalf("unknown portal: %d", p.Status)
	}
	if p := b.Get("/zwfw/home"); p.Name() != "login" {
		t.Fatalf("home before sign-in: %q", p.Name())
	}
	if ct := home.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Fatalf("content type %q", ct)
	}
	if home.Contains("<script>") || home.Contains("style=") {
		t.Fatal("inline script or style")
	}
}

func TestFinishAndSignOut(t *testing.T) {
	h := jt.New(t, jt.Options{})
	a := h.CreateAccount(jt.ZhangWei, "Kaoshi2026ok")
	b := h.Browser()
	b.Expect(b.Post("/hxw/login/password", url.Values{"id_number": {jt.ZhangWei.IDNumber}, "password": {"Kaoshi2026ok"}}), "home")
	home := b.Expect(b.Get("/hxw/"), "portal")
	if !home.Contains(`href="/hxw/exam/"`) || !home.Contains("完成并退出") {
		t.Fatal("signed-in portal home lacks 开始报名 or 完成并退出")
	}
	u, _ := url.Parse(h.URL)
	old := b.Client.Jar.Cookies(u)
	bye := b.Expect(b.Post("/hxw/logout", nil), "message")
	if !bye.Contains("您已安全退出，请关闭浏览器") || bye.Attr("signed-in") != "" {
		t.Fatal("logout page")
	}
	// The old cookie is dead on the server, not only in this browser.
	replay := h.Browser()
	replay.Client.Jar.SetCookies(u, old)
	if p := replay.Get("/hxw/home"); p.Name() != "login" {
		t.Fatalf("the old session still works: %q", p.Name())
	}
	recs, err := h.Store.ListAudit(t.Context(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range recs {
		found = found || (r.Kind == "logout" && r.Actor == a.ID)
	}
	if !found {
		t.Fatal("no logout audit record")
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
