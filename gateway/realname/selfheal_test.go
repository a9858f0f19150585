package realname_test

import (
	"context"
	"net/url"
	"sync"
	"testing"

	jt "github.com/shiming-id/shiming/gateway/journey/journeytest"
	"github.com/shiming-id/shiming/gateway/web"
	"github.com/shiming-id/shiming/plugins/sdk"
)

// TestSelfHealing breaks the QR session in each way the guide's common
// problems come from and checks that a fresh QR appears by itself,
// explained in one calm sentence and counted as an error and a recovery
// of its kind, and that the code of the fresh session is exchanged
// exactly once however often the callback and the polls repeat it.
func TestSelfHealing(t *testing.T) {
	tests := []struct {
		kind    string
		text    string
		breakIt func(t *testing.T, v *jt.ScanVendor, s jt.ScanInfo)
		// exchanges is how many ExchangeCode calls breaking costs.
		exchanges int
	}{
		{"code_reused", web.TextQRRefreshed, func(t *testing.T, v *jt.ScanVendor, s jt.ScanInfo) {
			v.FailNext("ExchangeCode", sdk.Vendor(sdk.CodeReused, "40163", "code been used"))
			mustCode(t, v, s.UUID)
		}, 1},
		{"code_invalid", web.TextQRRefreshed, func(t *testing.T, v *jt.ScanVendor, s jt.ScanInfo) {
			v.FailNext("ExchangeCode", sdk.Vendor(sdk.CodeInvalid, "40029", "invalid code"))
			mustCode(t, v, s.UUID)
		}, 1},
		{"uuid_invalid", web.TextQRRefreshed, func(t *testing.T, v *jt.ScanVendor, s jt.ScanInfo) { must(t, v.Forget(s.UUID)) }, 0},
		{"expired", web.TextQRRefreshed, func(t *testing.T, v *jt.ScanVendor, s jt.ScanInfo) { must(t, v.Expire(s.UUID)) }, 0},
		{"cancelled", web.TextScanCancelled, func(t *testing.T, v *jt.ScanVendor, s jt.ScanInfo) { must(t, v.Cancel(s.UUID)) }, 0},
	}
	for _, tc := range tests {
		t.Run(tc.kind, func(t *testing.T) {
			h := jt.New(t, jt.Options{})
			b := h.Browser()
			v := h.Providers.Scan["wechat"]
			qr := h.StartRealName(b, "hunanpea", "wechat")
			first, _ := v.ByQR(qr.QR())
			tc.breakIt(t, v, first)

			st := h.Status(b, qr.Attr("status-url"))
			if st.Phase != "waiting" || st.ErrorKind != tc.kind || st.QRVersion != 2 {
				t.Fatalf("status after the break: %+v", st)
			}
			fresh := b.Expect(b.Get(qr.URL.Path), "qr")
			if fresh.QR() == qr.QR() || fresh.QR() == "" {
				t.Fatalf("the QR was not replaced: %q", fresh.QR())
			}
			if !fresh.HasErrorKind(tc.kind) || !fresh.Contains(tc.text) {
				t.Fatalf("fresh QR page explains %v", fresh.ErrorKinds())
			}
			for _, advice := range []string{"重启", "清理", "缓存"} {
				if fresh.Contains(advice) {
					t.Fatalf("the page advises %q", advice)
				}
			}
			if v.Count() != 2 {
				t.Fatalf("%d QR sessions begun, want 2", v.Count())
			}
			if e, r := h.Counter("shiming_realname_errors_total", "portal", "hunanpea", "provider", "wechat", "kind", tc.kind),
				h.Counter("shiming_realname_recoveries_total", "portal", "hunanpea", "provider", "wechat", "kind", tc.kind); e != 1 || r != 1 {
				t.Fatalf("errors %v recoveries %v, want 1 and 1", e, r)
			}

			// The phone confirms the fresh QR; the vendor redirects the
			// phone's browser to the callback, twice.
			second, _ := v.ByQR(fresh.QR())
			code, err := v.Confirm(second.UUID, jt.ZhangWei.Identity("wechat"))
			must(t, err)
			q, err := v.CallbackQuery(second.UUID, code)
			must(t, err)
			phone := h.Browser()
			phone.UserAgent = jt.PhoneUA
			for range 2 {
				p := phone.Expect(phone.Get("/callback/wechat?"+q.Encode()), "message")
				if p.Step() != "callback_continue" {
					t.Fatalf("callback page step %q", p.Step())
				}
			}
			if tc.kind == "code_reused" || tc.kind == "code_invalid" {
				// The first QR's callback arrives late: it changes nothing.
				old, err := v.CallbackQuery(first.UUID, "late-code")
				must(t, err)
				if p := phone.Get("/callback/wechat?" + old.Encode()); p.Step() != "callback_stale" {
					t.Fatalf("late callback: step %q", p.Step())
				}
			}
			st = h.Status(b, qr.Attr("status-url"))
			if st.Phase != "done" {
				t.Fatalf("status after the callback: %+v", st)
			}
			b.Expect(b.Post(qr.URL.Path, url.Values{"action": {"check"}}), "realname_identity")
			if n := v.Calls("ExchangeCode"); n != tc.exchanges+1 {
				t.Fatalf("ExchangeCode called %d times, want %d", n, tc.exchanges+1)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustCode(t *testing.T, v *jt.ScanVendor, uuid string) {
	t.Helper()
	if _, err := v.Confirm(uuid, jt.ZhangWei.Identity("wechat")); err != nil {
		t.Fatal(err)
	}
}

// TestExchangeOnceUnderConcurrentPolls lets many polls, the button and
// the callback see one confirmation at the same moment.
func TestExchangeOnceUnderConcurrentPolls(t *testing.T) {
	h := jt.New(t, jt.Options{})
	b := h.Browser()
	v := h.Providers.Scan["alipay"]
	qr := h.StartRealName(b, "zwfw", "alipay")
	s, _ := v.ByQR(qr.QR())
	code, err := v.Confirm(s.UUID, jt.LiNa.Identity("alipay"))
	must(t, err)
	q, _ := v.CallbackQuery(s.UUID, code)
	h.Clock.Advance(h.Config.RealName.ScanPollInterval.D())
	phone := h.Browser()
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch i % 3 {
			case 0:
				var st jt.Status
				b.JSON(qr.Attr("status-url"), &st)
			case 1:
				b.Post(qr.URL.Path, url.Values{"action": {"check"}})
			default:
				phone.Get("/callback/alipay?" + q.Encode())
			}
		}()
	}
	wg.Wait()
	if n := v.Calls("ExchangeCode"); n != 1 {
		t.Fatalf("ExchangeCode called %d times, want 1", n)
	}
	b.Expect(b.Get(qr.URL.Path), "realname_identity")
}

// TestStatusPollIsCheap checks the hot path: polls inside the interval
// neither ask the vendor nor write the flow, and a due poll that learns
// nothing new does not write it either.
func TestStatusPollIsCheap(t *testing.T) {
	h := jt.New(t, jt.Options{})
	b := h.Browser()
	v := h.Providers.Scan["wechat"]
	qr := h.StartRealName(b, "hunanpea", "wechat")
	flowID := qr.FlowID()
	version := func() int64 {
		f, err := h.Store.GetFlow(context.Background(), flowID, h.Clock.Now())
		must(t, err)
		return f.Version
	}
	var st jt.Status
	b.JSON(qr.Attr("status-url"), &st) // the first poll asks the vendor
	polls, ver := v.Calls("PollScan"), version()
	for range 5 {
		if code := b.JSON(qr.Attr("status-url"), &st); code != 200 || st.Phase != "waiting" {
			t.Fatalf("status %d %+v", code, st)
		}
	}
	if v.Calls("PollScan") != polls || version() != ver {
		t.Fatalf("polls inside the interval: vendor polls %d→%d, flow version %d→%d", polls, v.Calls("PollScan"), ver, version())
	}
	h.Clock.Advance(h.Config.RealName.ScanPollInterval.D())
	b.JSON(qr.Attr("status-url"), &st)
	b.JSON(qr.Attr("status-url"), &st)
	if v.Calls("PollScan") != polls+1 || version() != ver {
		t.Fatalf("after the interval, nothing new: %d vendor polls, want %d; flow version %d→%d, want no write",
			v.Calls("PollScan"), polls+1, ver, version())
	}
	must(t, v.Scan(mustLatest(t, v).UUID))
	if st := h.Status(b, qr.Attr("status-url")); st.Phase != "scanned" || st.Message != "已扫码，请在手机上确认。" {
		t.Fatalf("after the scan: %+v", st)
	}
}

func mustLatest(t *testing.T, v *jt.ScanVendor) jt.ScanInfo {
	t.Helper()
	s, ok := v.Latest()
	if !ok {
		t.Fatal("no QR session")
	}
	return s
}

// TestNoScriptButton is the 我已扫码 path of a browser without
// JavaScript.
func TestNoScriptButton(t *testing.T) {
	h := jt.New(t, jt.Options{})
	b := h.Browser()
	v := h.Providers.Scan["wechat"]
	qr := h.StartRealName(b, "hunanpea", "wechat")
	if qr.Attr("status-url") == "" || !qr.Contains(`<script src="/static/qr.js?v=`) {
		t.Fatal("the QR page has no polling script")
	}
	p := b.Expect(b.Post(qr.URL.Path, url.Values{"action": {"check"}}), "qr")
	if !p.Contains("还没有收到手机上的确认") || p.Attr("phase") != "waiting" {
		t.Fatalf("not yet scanned: phase %q", p.Attr("phase"))
	}
	s := mustLatest(t, v)
	_, err := v.Confirm(s.UUID, jt.ZhangWei.Identity("wechat"))
	must(t, err)
	h.Clock.Advance(h.Config.RealName.ScanPollInterval.D())
	b.Expect(b.Post(qr.URL.Path, url.Values{"action": {"check"}}), "realname_identity")

	t.Run("vendor down, then a retry", func(t *testing.T) {
		b := h.Browser()
		h.Providers.SetDown("alipay", true)
		p := h.StartRealName(b, "hunanpea", "alipay")
		if !p.HasErrorKind("vendor_unavailable") || !p.Contains("支付宝服务暂时繁忙，请稍后重试。") || p.QR() != "" {
			t.Fatalf("vendor down: kinds %v qr %q", p.ErrorKinds(), p.QR())
		}
		h.Providers.SetDown("alipay", false)
		p = b.Expect(b.Post(p.URL.Path, url.Values{"action": {"retry"}}), "qr")
		if p.QR() == "" || len(p.ErrorKinds()) != 0 {
			t.Fatalf("retry: qr %q kinds %v", p.QR(), p.ErrorKinds())
		}
	})
}
