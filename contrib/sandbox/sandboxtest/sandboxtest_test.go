package sandboxtest_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox"
	"github.com/shiming-id/shiming/contrib/sandbox/sandboxtest"
	"github.com/shiming-id/shiming/contrib/sandbox/wechat"
)

func TestStart(t *testing.T) {
	srv := sandboxtest.Start(t, func(c *sandbox.Config) { c.Apps.Alipay[0].RealNameFields = true })
	a := srv.Apps
	if len(a.WeChat) != 2 || len(a.Alipay) != 2 || len(a.CTID) != 2 || len(a.SMS) != 2 {
		t.Fatalf("apps: %d wechat, %d alipay, %d ctid, %d sms; want two of each", len(a.WeChat), len(a.Alipay), len(a.CTID), len(a.SMS))
	}
	if a.WeChat[0].AppID == a.WeChat[1].AppID || a.Alipay[0].AppID == a.Alipay[1].AppID ||
		a.CTID[0].OrgCode == a.CTID[1].OrgCode || a.SMS[0].AccessKeyID == a.SMS[1].AccessKeyID {
		t.Error("the second credentials repeat the first")
	}
	if !a.Alipay[0].RealNameFields || a.Alipay[1].RealNameFields {
		t.Error("the option did not reach the apps")
	}
	resp, err := srv.HTTP.Get(srv.URL + "/sandbox/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(b)) != "ok" {
		t.Fatalf("healthz: %s %q", resp.Status, b)
	}
	if p := srv.People("c001", "c035", "c033"); p.Match.Name == "" || p.Mismatch.IDNumber == p.Match.IDNumber || p.FaceFail.Phone == "" {
		t.Errorf("people %+v", p)
	}
}

var uuidRE = regexp.MustCompile(`/connect/qrcode/([A-Za-z0-9_=-]+)"`)

// beginWeChatScan opens WeChat's QR login page as a browser would and
// returns the QR content (the confirm URL) and the uuid.
func beginWeChatScan(t *testing.T, srv *sandboxtest.Server) (qr, uuid string) {
	t.Helper()
	q := url.Values{"appid": {srv.Apps.WeChat[0].AppID}, "redirect_uri": {"http://127.0.0.1:8080/cb"},
		"response_type": {"code"}, "scope": {"snsapi_login"}, "state": {"s"}}
	resp, err := srv.HTTP.Get(srv.URL + "/" + wechat.OpenHost + "/connect/qrconnect?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	m := uuidRE.FindSubmatch(page)
	if m == nil {
		t.Fatalf("no uuid in the login page: %s", page)
	}
	return srv.URL + "/" + wechat.OpenHost + "/connect/confirm?uuid=" + url.QueryEscape(string(m[1])), string(m[1])
}

// longPoll answers WeChat's wx_errcode for uuid.
func longPoll(t *testing.T, srv *sandboxtest.Server, uuid string) string {
	t.Helper()
	resp, err := srv.HTTP.Get(srv.URL + "/" + wechat.LongPollHost + "/connect/l/qrconnect?uuid=" + url.QueryEscape(uuid))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`wx_errcode=(\d+)`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("long-poll answer %q", b)
	}
	return string(m[1])
}

func TestPhone(t *testing.T) {
	srv := sandboxtest.Start(t)
	people := srv.People("c001", "c035", "c031")
	ph := srv.Phone(people)
	ctx := context.Background()

	t.Run("scan and approve", func(t *testing.T) {
		qr, uuid := beginWeChatScan(t, srv)
		if err := ph.Scan(ctx, qr); err != nil {
			t.Fatal(err)
		}
		if got := longPoll(t, srv, uuid); got != "404" {
			t.Fatalf("after Scan the long-poll says %s, want 404 (scanned)", got)
		}
		q, err := ph.Approve(ctx, qr)
		if err != nil || q != nil {
			t.Fatalf("Approve = %v, %v; want no redirect (WeChat reports through the long-poll)", q, err)
		}
		if got := longPoll(t, srv, uuid); got != "405" {
			t.Fatalf("after Approve the long-poll says %s, want 405 (confirmed)", got)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		qr, uuid := beginWeChatScan(t, srv)
		if _, err := ph.Cancel(ctx, qr); err != nil {
			t.Fatal(err)
		}
		if got := longPoll(t, srv, uuid); got != "403" {
			t.Fatalf("after Cancel the long-poll says %s, want 403", got)
		}
	})
	t.Run("expire", func(t *testing.T) {
		qr, uuid := beginWeChatScan(t, srv)
		if err := ph.Expire(ctx, qr); err != nil {
			t.Fatal(err)
		}
		if got := longPoll(t, srv, uuid); got != "402" {
			t.Fatalf("after Expire the long-poll says %s, want 402", got)
		}
	})
	t.Run("unknown QR content", func(t *testing.T) {
		if err := ph.Scan(ctx, srv.URL+"/nothing"); err == nil {
			t.Error("Scan of unknown content succeeded")
		}
		if err := ph.Face(ctx, srv.URL+"/nothing"); err == nil {
			t.Error("Face of unknown content succeeded")
		}
	})
	t.Run("empty inbox", func(t *testing.T) {
		msgs, err := ph.Inbox(ctx, people.Match.Phone)
		if err != nil || len(msgs) != 0 {
			t.Fatalf("Inbox = %v, %v", msgs, err)
		}
		if _, err := ph.SMSCode(ctx, people.Match.Phone); err == nil {
			t.Error("SMSCode of an empty inbox succeeded")
		}
	})
}

func TestSlow(t *testing.T) {
	srv := sandboxtest.Start(t)
	restore := srv.Slow(wechat.Vendor)()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/"+wechat.APIHost+"/cgi-bin/token", nil)
	if resp, err := srv.HTTP.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("a request to a slow vendor was answered at once")
	}
	restore()
	if rules := srv.Sandbox.Faults().List(); len(rules) != 0 {
		t.Errorf("restore left %v", rules)
	}
}

func TestHandleKey(t *testing.T) {
	a, b := sandboxtest.HandleKey(t), sandboxtest.HandleKey(t)
	if a == b || len(a) != 44 {
		t.Errorf("HandleKey = %q, %q", a, b)
	}
}
