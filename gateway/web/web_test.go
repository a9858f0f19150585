package web

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shiming-id/shiming/gateway/config"
	"github.com/shiming-id/shiming/gateway/httpserver"
	"github.com/shiming-id/shiming/plugins/sdk"
)

func renderer(t *testing.T) *Renderer {
	t.Helper()
	assets, err := httpserver.NewAssets(Static())
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRenderer(assets, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// pageData gives every page the data its handlers give it.
var pageData = map[string]any{
	"portals":           PortalsData{Portals: config.Default().Portals},
	"portal":            PortalData{Issuers: []Choice{{ID: "gov", Label: "政务服务网"}}, ExamURL: "/p/exam/"},
	"desktop":           nil,
	"message":           Message{Paragraphs: []string{"段落"}, Actions: []Action{{Label: "按钮", URL: "/x", Post: true, Fields: map[string]string{"a": "b"}}}},
	"home":              HomeData{Name: "张*", Evidence: []EvidenceRow{{Provider: "微信", Level: "人脸识别", Date: "2026-02-27"}}},
	"realname_intro":    nil,
	"realname_choose":   ChooseData{Action: "/c", Providers: []Choice{{ID: "wechat", Label: "微信"}}},
	"qr":                QR{Content: "https://qr.test/x?a=1&b=<2>", ImageURL: "/q.png", StatusURL: "/s", FormURL: "/f", DemoURL: "/phone?qr=x", Back: &Action{Label: "返回", URL: "/"}},
	"realname_identity": IdentityData{Action: "/i", Provider: "支付宝", FromProvider: true},
	"realname_mismatch": MismatchData{CTIDAction: "/ctid", RetryURL: "/i"},
	"realname_phone":    PhoneData{Action: "/p", Sent: true, MaskedPhone: "138****1001", ResendIn: "40 秒", MaskedName: "张*"},
	"face":              FaceData{Action: "/f", Provider: "微信", AttemptsLeft: 2, Failed: true},
	"realname_password": PasswordData{Action: "/pw"},
	"login":             LoginData{Tab: "sms", Portal: "p", SMSSent: true, Issuers: []Choice{{ID: "gov", Label: "政务服务网"}}},
	"forgot":            nil,
	"forgot_options":    OptionsData{ChangeURL: "/c", ResetURL: "/r"},
	"forgot_change":     PhoneData{Action: "/c", Sent: true},
	"forgot_confirm":    ConfirmData{Action: "/c", OldPhone: "138****1001", NewPhone: "139****5555"},
	"forgot_reset":      PhoneData{Action: "/r", Sent: true},
}

func TestEveryPageRenders(t *testing.T) {
	r := renderer(t)
	for name := range r.pages {
		if _, ok := pageData[name]; !ok {
			t.Errorf("page %s has no test data", name)
		}
	}
	for name, data := range pageData {
		t.Run(name, func(t *testing.T) {
			if !r.Has(name) {
				t.Fatalf("no page %s", name)
			}
			w := httptest.NewRecorder()
			form := Form{}
			form.Set("name", "张伟")
			form.Fail("name", "请填写姓名。")
			r.Render(w, httptest.NewRequest("GET", "/", nil), http.StatusOK, Page{
				Name: name, Title: "标题", Step: "s1", Portal: config.Portal{ID: "p", Name: "门户"}, SignedIn: true,
				Steps: Steps([]string{"一", "二", "三"}, 1), Form: form, Data: data, Script: true,
				Notices: []Notice{{Tone: ToneWarn, Kind: "code_reused", Text: TextQRRefreshed}},
			})
			body := w.Body.String()
			if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "text/html; charset=utf-8" {
				t.Fatalf("%d %s\n%s", w.Code, w.Header().Get("Content-Type"), body)
			}
			for _, want := range []string{`lang="zh-CN"`, `data-page="` + name + `"`, `data-step="s1"`, `data-error-kind="code_reused"`,
				`<li class="current" aria-current="step">二</li>`, `/static/shiming.css?v=`, `/static/qr.js?v=`} {
				if !strings.Contains(body, want) {
					t.Errorf("lacks %s", want)
				}
			}
		})
	}
	t.Run("the QR content is escaped into data-qr", func(t *testing.T) {
		w := httptest.NewRecorder()
		r.Render(w, httptest.NewRequest("GET", "/", nil), http.StatusOK, Page{Name: "qr", Data: pageData["qr"]})
		if !strings.Contains(w.Body.String(), `data-qr="https://qr.test/x?a=1&amp;b=&lt;2&gt;"`) {
			t.Fatal(w.Body.String())
		}
	})
}

// TestNoInlineScriptOrStyle keeps the templates within the CSP.
func TestNoInlineScriptOrStyle(t *testing.T) {
	inline := regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]|<style|\sstyle=|\son[a-z]+=|javascript:`)
	err := fs.WalkDir(templateFS, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(templateFS, path)
		if err != nil {
			return err
		}
		if m := inline.Find(b); m != nil {
			t.Errorf("%s: %q", path, m)
		}
		if strings.Contains(string(b), "http://") || strings.Contains(string(b), "https://") {
			t.Errorf("%s links outside the gateway", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestKindText(t *testing.T) {
	for _, where := range []Where{AtScan, AtFace, AtIdentity, AtSMS} {
		for _, k := range append(sdk.Kinds(), sdk.KindUnknown) {
			s := KindText(where, k, "wechat")
			if s == "" || strings.ContainsAny(s, "abcdefghijklmnopqrstuvwxyz") {
				t.Errorf("KindText(%d, %s) = %q", where, k, s)
			}
			for _, advice := range []string{"重启", "缓存"} {
				if strings.Contains(s, advice) {
					t.Errorf("KindText(%d, %s) advises %q", where, k, advice)
				}
			}
		}
	}
	if got := KindText(AtScan, sdk.VendorUnavailable, "wechat"); got != "微信服务暂时繁忙，请稍后重试。" {
		t.Errorf("vendor down: %q", got)
	}
	if got := KindText(AtScan, sdk.CodeReused, "alipay"); got != TextQRRefreshed {
		t.Errorf("code reused: %q", got)
	}
}

func TestWaitAndMasks(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "1 秒"}, {400 * time.Millisecond, "1 秒"}, {40 * time.Second, "40 秒"}, {time.Minute, "1 分钟"},
		{61 * time.Second, "2 分钟"}, {15 * time.Minute, "15 分钟"}, {90 * time.Minute, "2 小时"},
	}
	for _, tc := range tests {
		if got := Wait(tc.d); got != tc.want {
			t.Errorf("Wait(%s) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestQRPNG(t *testing.T) {
	w := httptest.NewRecorder()
	QRPNG(w, httptest.NewRequest("GET", "/", nil), "https://open.weixin.qq.com/connect/confirm?uuid=abc")
	if w.Code != 200 || w.Header().Get("Content-Type") != "image/png" || !strings.HasPrefix(w.Body.String(), "\x89PNG") {
		t.Fatalf("%d %s", w.Code, w.Header().Get("Content-Type"))
	}
	w = httptest.NewRecorder()
	QRPNG(w, httptest.NewRequest("GET", "/", nil), "")
	if w.Code != http.StatusNotFound {
		t.Fatalf("empty content: %d", w.Code)
	}
}
