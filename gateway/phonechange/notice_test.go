package phonechange_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	jt "github.com/shiming-id/shiming/gateway/journey/journeytest"
	"github.com/shiming-id/shiming/plugins/sdk"
)

func notices(h *jt.Harness, result string) float64 {
	return h.Counter("shiming_phone_change_notices_total", "result", result)
}

// logBuffer collects the gateway's log lines; the server writes them
// from its own goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestPhoneChangeNotifiesTheOldPhone commits phone changes and checks
// the notice to the old number (ASVS 6.3.7): exactly one phone_changed
// notice with the new number masked, sent after the commit; and when the
// SMS provider fails, does not send notices or is down, the change stands,
// the candidate sees the done page, and the result is counted and logged
// with masked numbers only.
func TestPhoneChangeNotifiesTheOldPhone(t *testing.T) {
	const newPhone = "13900005555"
	cases := []struct {
		name   string
		before func(h *jt.Harness)
		result string
		logged string
	}{
		{"sent", func(*jt.Harness) {}, "sent", "phonechange: old phone notified"},
		{"provider fails", func(h *jt.Harness) {
			h.Providers.SMS["sms"].FailNext("SendNotice", sdk.Vendor(sdk.RateLimited, "isv.DAY_LIMIT_CONTROL", "flow control"))
		}, "failed", "phonechange: old phone not notified"},
		{"provider without phone_notice", func(h *jt.Harness) {
			h.Providers.SMS["sms"].FailNext("SendNotice", sdk.E(sdk.NotSupported, "provider does not declare phone_notice"))
		}, "unsupported", "the sms provider does not declare phone_notice"},
		{"provider down", func(h *jt.Harness) { h.Providers.SetDown("sms", true) }, "failed", "phonechange: old phone not notified"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			logs := &logBuffer{}
			h := jt.New(t, jt.Options{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
			a := h.CreateAccount(jt.ZhangWei, pw)
			sms := h.Providers.SMS["sms"]
			b := h.Browser()
			base := startChange(t, b, jt.ZhangWei.IDNumber)
			b.Expect(send(b, base, "张伟", newPhone), "forgot_change")
			code, _ := sms.LastCode(newPhone)
			b.Expect(verify(b, base, "张伟", newPhone, code), "face")
			b.Expect(h.PassFace(b, base+"face", "alipay"), "forgot_confirm")
			if n := len(sms.Notices("")); n != 0 {
				t.Fatalf("%d notices before the commit", n)
			}

			tc.before(h)
			done := b.Expect(b.Post(base+"confirm", nil), "message")
			if !done.Contains("手机号码已修改") {
				t.Fatal("no done page")
			}
			if got, err := h.Accounts.ByID(t.Context(), a.ID); err != nil || got.Phone != newPhone {
				t.Fatalf("account phone %q, %v", got.Phone, err)
			}
			if changes(h, "completed") != 1 || changes(h, "error") != 0 {
				t.Fatalf("completed %v, error %v", changes(h, "completed"), changes(h, "error"))
			}
			for _, r := range []string{"sent", "failed", "unsupported"} {
				want := 0.0
				if r == tc.result {
					want = 1
				}
				if got := notices(h, r); got != want {
					t.Errorf("notices %s = %v, want %v", r, got, want)
				}
			}
			sent := sms.Notices("")
			if tc.result == "sent" {
				if len(sent) != 1 || sent[0].Phone != jt.ZhangWei.Phone || sent[0].Notice.Kind != sdk.NoticePhoneChanged ||
					len(sent[0].Notice.Params) != 1 || sent[0].Notice.Params["phone"] != "139****5555" {
					t.Fatalf("notices %+v, want one phone_changed to the old phone with the new one masked", sent)
				}
			} else if len(sent) != 0 {
				t.Fatalf("notices %+v", sent)
			}
			out := logs.String()
			if !strings.Contains(out, tc.logged) || !strings.Contains(out, `"old_phone":"138****1001"`) || !strings.Contains(out, `"new_phone":"139****5555"`) {
				t.Errorf("log lacks %q with the masked numbers:\n%s", tc.logged, out)
			}
			for _, full := range []string{jt.ZhangWei.Phone, newPhone} {
				if strings.Contains(out, full) {
					t.Errorf("log holds the full number %s", full)
				}
			}

			// A second confirm of the finished flow sends nothing more.
			h.Providers.SetDown("sms", false)
			b.Post(base+"confirm", nil)
			if n := len(sms.Notices("")); n != len(sent) {
				t.Errorf("a second confirm sent %d notices more", n-len(sent))
			}
		})
	}
}
