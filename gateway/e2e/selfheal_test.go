package e2e_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/sandboxclient"
)

// The self-healing tests inject faults into the sandbox, which every
// test shares: they do not run in parallel with others.

// textQRRefreshed is the one calm sentence of a replaced QR code.
const textQRRefreshed = "二维码已更新，请用手机重新扫码。"

// TestCodeReusedShowsAFreshQR: WeChat answers "code been used" (40163)
// once; after the phone confirms, the desktop shows a fresh QR with one
// calm sentence, and a second scan continues the journey.
func TestCodeReusedShowsAFreshQR(t *testing.T) {
	j := newJourney(t, "c003")
	qr := j.startScan("wechat")
	inject(t, j, sandboxclient.Fault{Vendor: "wechat", Path: "/sns/oauth2/access_token", Code: "40163", Count: 1})
	j.scanOnPhone("wechat", qr)
	fresh := j.freshQR(qr, "code_reused")
	expectCalm(j)
	j.scanOnPhone("wechat", fresh)
	j.d.WaitPage("realname_identity")
	sawHealed(t, "code_reused")
	expectFaultUsed(t, j)
	j.identity(j.who.Name, j.who.IDNumber)
	j.d.WaitPage("realname_phone")
}

// TestStaleUUIDShowsAFreshQR: WeChat's long-poll says the QR's uuid is
// unknown (the sandbox's wx_errcode 400); a fresh QR appears by itself,
// and scanning it continues the journey.
func TestStaleUUIDShowsAFreshQR(t *testing.T) {
	j := newJourney(t, "c004")
	qr := j.startScan("wechat")
	inject(t, j, sandboxclient.Fault{Vendor: "wechat", Path: "/connect/l/qrconnect", Code: "400", Count: 1})
	fresh := j.freshQR(qr, "uuid_invalid")
	expectCalm(j)
	j.scanOnPhone("wechat", fresh)
	j.d.WaitPage("realname_identity")
	sawHealed(t, "uuid_invalid")
	expectFaultUsed(t, j)
	j.identity(j.who.Name, j.who.IDNumber)
	j.d.WaitPage("realname_phone")
}

// inject adds a fault for the rest of the test.
func inject(t *testing.T, j *journey, f sandboxclient.Fault) {
	t.Helper()
	if err := j.sb.AddFault(j.ctx, f); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := j.sb.ClearFaults(ctx, f.Vendor); err != nil {
			t.Errorf("clear faults: %v", err)
		}
	})
}

// expectFaultUsed checks the injected fault was spent.
func expectFaultUsed(t *testing.T, j *journey) {
	t.Helper()
	left, err := j.sb.Faults(j.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Fatalf("faults not used: %+v", left)
	}
}

// expectCalm checks a refreshed QR page: exactly one notice, the calm
// sentence, and none of the official guide's advice to restart the phone
// or clear caches.
func expectCalm(j *journey) {
	j.t.Helper()
	d := j.d
	if n := d.Count(`.notice`); n != 1 {
		d.Fatalf("%d notices on the refreshed QR page, want 1", n)
	}
	if got := strings.TrimSpace(d.Text(`.notice`)); got != textQRRefreshed {
		d.Fatalf("the notice says %q, want %q", got, textQRRefreshed)
	}
	body := d.Text("body")
	for _, advice := range []string{"重启", "重新启动", "清除缓存", "清理缓存", "缓存"} {
		if strings.Contains(body, advice) {
			d.Fatalf("the refreshed QR page advises %q: %q", advice, body)
		}
	}
}
