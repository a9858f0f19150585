package realname_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	jt "github.com/shiming-id/shiming/gateway/journey/journeytest"
)

// chromium finds a Chromium to drive, or skips (fails under CI=true).
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROME"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true but no Chromium found (set CHROME)")
	}
	t.Skip("no Chromium found; set CHROME to run the browser test")
	return ""
}

// TestQRScriptInABrowser runs qr.js in Chromium under the gateway's CSP:
// a stale QR is replaced without a click, with its notice, and a
// confirmed scan takes the page on to 实名登录.
func TestQRScriptInABrowser(t *testing.T) {
	exe := chromium(t)
	h := jt.New(t, jt.Options{})
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.Flag("disable-quic", true), chromedp.UserDataDir(t.TempDir()))
	actx, cancel := chromedp.NewExecAllocator(t.Context(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(h.URL+"/hunanpea/realname/"),
		chromedp.Click(chromedp.CSS(`button[data-action="start"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[data-provider="wechat"]`)),
		chromedp.Click(chromedp.CSS(`button[data-provider="wechat"]`)),
		chromedp.WaitVisible(chromedp.CSS(`img[data-qr]`)),
	); err != nil {
		t.Fatal(err)
	}
	attr := func(sel, name string) string {
		r, _ := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
		return r.Value
	}
	// until polls the page until cond holds or the context ends.
	until := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			select {
			case <-ctx.Done():
				t.Fatalf("waiting for %s: %v", what, ctx.Err())
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	v := h.Providers.Scan["wechat"]
	first := attr(`img[data-qr]`, "data-qr")
	s, _ := v.ByQR(first)
	must(t, v.Forget(s.UUID))
	h.Clock.Advance(h.Config.RealName.ScanPollInterval.D())
	var fresh string
	until("a fresh QR", func() bool { fresh = attr(`img[data-qr]`, "data-qr"); return fresh != "" && fresh != first })
	if kind := attr(`.notice[data-error-kind]`, "data-error-kind"); kind != "uuid_invalid" {
		t.Fatalf("notice kind %q", kind)
	}
	s, _ = v.ByQR(fresh)
	_, err := v.Confirm(s.UUID, jt.ZhangWei.Identity("wechat"))
	must(t, err)
	h.Clock.Advance(h.Config.RealName.ScanPollInterval.D())
	until("the identity page", func() bool {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		return strings.HasSuffix(loc, "/identity")
	})
}
