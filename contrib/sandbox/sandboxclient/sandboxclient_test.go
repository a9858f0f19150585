package sandboxclient_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox"
	"github.com/shiming-id/shiming/contrib/sandbox/sandboxclient"
	"github.com/shiming-id/shiming/contrib/sandbox/sms"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

// rig is a sandbox running in-process behind an httptest server, and a
// client of it.
type rig struct {
	t    *testing.T
	url  string
	apps sandbox.Apps
	sb   *sandboxclient.Client
}

func start(t *testing.T) *rig {
	t.Helper()
	apps, err := sandbox.GenerateApps()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	s, err := sandbox.New(sandbox.Config{DataDir: t.TempDir(), PublicURL: base, Apps: apps, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		srv.Listener.Close()
		t.Fatal(err)
	}
	srv.Config.Handler = s.Handler()
	srv.Start()
	t.Cleanup(func() {
		s.Close()
		srv.Close()
	})
	return &rig{t: t, url: base, apps: apps, sb: &sandboxclient.Client{URL: base, HTTP: &http.Client{Timeout: 30 * time.Second}}}
}

// alipayLogin returns the QR content of a fresh Alipay login: the
// authorize URL, which the phone recognises on first scan.
func (r *rig) alipayLogin(state string) string {
	q := url.Values{"app_id": {r.apps.Alipay[0].AppID}, "scope": {"auth_user"},
		"redirect_uri": {"http://127.0.0.1:8080/callback"}, "state": {state}}
	return r.url + "/openauth.alipay.com/oauth2/publicAppAuthorize.htm?" + q.Encode()
}

// sendCode sends code to phone through the SMS simulator's SendSms, as a
// plugin would.
func (r *rig) sendCode(phone, code string) {
	r.t.Helper()
	key := r.apps.SMS[0]
	p := url.Values{"AccessKeyId": {key.AccessKeyID}, "Action": {"SendSms"}, "Format": {"JSON"}, "Version": {sms.APIVersion},
		"SignatureMethod": {"HMAC-SHA1"}, "SignatureVersion": {"1.0"}, "SignatureNonce": {strconv.FormatInt(time.Now().UnixNano(), 36)},
		"Timestamp": {time.Now().UTC().Format("2006-01-02T15:04:05Z")}, "PhoneNumbers": {phone},
		"SignName": {key.SignName}, "TemplateCode": {"SMS_SHIMING_CODE"}, "TemplateParam": {`{"code":"` + code + `","minutes":"5"}`}}
	p.Set("Signature", sms.Sign(http.MethodPost, p, key.AccessKeySecret))
	resp, err := r.sb.HTTP.PostForm(r.url+"/"+sms.Host+"/", p)
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		r.t.Fatalf("SendSms: %s", resp.Status)
	}
}

func TestCitizens(t *testing.T) {
	t.Parallel()
	r := start(t)
	ctx := t.Context()
	all, err := r.sb.Citizens(ctx)
	if err != nil || len(all) < 37 {
		t.Fatalf("Citizens = %d, %v", len(all), err)
	}
	zw, err := r.sb.Citizen(ctx, "c001")
	if err != nil || zw.Name != "张伟" || !cnid.Valid(zw.IDNumber) || !cnid.ValidPhone(zw.Phone) || zw.Face != "passes" {
		t.Fatalf("Citizen(c001) = %+v, %v", zw, err)
	}
	if c, err := r.sb.Citizen(ctx, "c031"); err != nil || c.Face != "mismatch" {
		t.Errorf("Citizen(c031) = %+v, %v; want the face mismatch", c, err)
	}
	if c, err := r.sb.Citizen(ctx, "c035"); err != nil || c.RegistryName == "" || c.RegistryName == c.Name {
		t.Errorf("Citizen(c035) = %+v, %v; want another registry name", c, err)
	}
	if _, err := r.sb.Citizen(ctx, "c999"); !errors.Is(err, sandboxclient.ErrNotFound) {
		t.Errorf("Citizen(c999) = %v, want ErrNotFound", err)
	}
	// Without an HTTP client, and with a trailing slash.
	bare := &sandboxclient.Client{URL: r.url + "/"}
	if again, err := bare.Citizen(ctx, "c001"); err != nil || again != zw {
		t.Errorf("with the default client: %+v, %v", again, err)
	}
}

func TestPhone(t *testing.T) {
	t.Parallel()
	r := start(t)
	ctx := t.Context()

	qr := r.alipayLogin("st1")
	it, err := r.sb.Item(ctx, qr)
	if err != nil || it.Vendor != "alipay" || it.Kind != "scan_login" || it.State != "waiting" || it.ID == "" ||
		it.App != r.apps.Alipay[0].AppID || it.Title == "" || it.Created.IsZero() || !it.Expires.After(it.Created) ||
		!slices.Equal(it.Actions, []string{"scan", "confirm", "cancel"}) {
		t.Fatalf("Item = %+v, %v", it, err)
	}
	pending, err := r.sb.Pending(ctx)
	if err != nil || !slices.ContainsFunc(pending, func(p sandboxclient.Item) bool { return p.ID == it.ID && p.QRContent == qr }) {
		t.Fatalf("Pending = %+v, %v", pending, err)
	}
	res, err := r.sb.Act(ctx, qr, "scan", "c001")
	if err != nil || res.Item.ID != it.ID || res.Item.State != "scanned" || res.Outcome.Redirect != "" || res.Outcome.Message == "" {
		t.Fatalf("Act(scan) = %+v, %v", res, err)
	}
	res, err = r.sb.ActItem(ctx, it.ID, "confirm", "c001")
	if err != nil || !strings.HasPrefix(res.Outcome.Redirect, "http://127.0.0.1:8080/callback?") ||
		!strings.Contains(res.Outcome.Redirect, "auth_code=") || !strings.Contains(res.Outcome.Redirect, "state=st1") {
		t.Fatalf("ActItem(confirm) = %+v, %v", res, err)
	}

	t.Run("as a synthetic person", func(t *testing.T) {
		check, err := cnid.CheckChar("43010219950101123")
		if err != nil {
			t.Fatal(err)
		}
		id := "43010219950101123" + string(check)
		if all, _ := r.sb.Citizens(ctx); slices.ContainsFunc(all, func(c sandboxclient.Citizen) bool { return c.IDNumber == id }) {
			t.Fatalf("%s is a registry citizen", id)
		}
		res, err := r.sb.Perform(ctx, sandboxclient.ActRequest{QR: r.alipayLogin("st2"), Action: "confirm",
			Holder: sandboxclient.Holder{Name: "测试者", IDNumber: id, Phone: "13512345678"}})
		if err != nil || !strings.Contains(res.Outcome.Redirect, "auth_code=") {
			t.Fatalf("Perform = %+v, %v", res, err)
		}
	})

	t.Run("not pending", func(t *testing.T) {
		if _, err := r.sb.Item(ctx, r.url+"/nothing"); !errors.Is(err, sandboxclient.ErrNotFound) {
			t.Errorf("Item(unknown) = %v, want ErrNotFound", err)
		}
	})

	t.Run("API errors", func(t *testing.T) {
		tests := []struct {
			name   string
			act    func() error
			status int
			code   string
		}{
			{"unknown item", func() error {
				_, err := r.sb.ActItem(ctx, "no-such-item", "confirm", "c001")
				return err
			}, http.StatusNotFound, "unknown_item"},
			{"action not allowed", func() error {
				_, err := r.sb.Act(ctx, qr, "confirm", "c001") // confirmed already
				return err
			}, http.StatusConflict, "not_allowed"},
			{"unknown action", func() error {
				_, err := r.sb.Act(ctx, qr, "wave", "c001")
				return err
			}, http.StatusBadRequest, "bad_request"},
			{"unknown citizen", func() error {
				_, err := r.sb.Act(ctx, r.alipayLogin("st3"), "scan", "c999")
				return err
			}, http.StatusBadRequest, "bad_citizen"},
			{"invalid phone", func() error {
				_, err := r.sb.Inbox(ctx, "12345")
				return err
			}, http.StatusBadRequest, "bad_phone"},
			{"invalid fault", func() error {
				return r.sb.AddFault(ctx, sandboxclient.Fault{Vendor: "nobody", Code: "1"})
			}, http.StatusBadRequest, "bad_request"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := tt.act()
				var e *sandboxclient.APIError
				if !errors.As(err, &e) || e.Status != tt.status || e.Code != tt.code || e.Message == "" {
					t.Fatalf("err = %v; want HTTP %d %s", err, tt.status, tt.code)
				}
				if !strings.HasPrefix(err.Error(), "sandboxclient: ") || strings.Contains(err.Error(), "?") {
					t.Errorf("err = %q; want the method and path, without a query", err)
				}
			})
		}
	})
}

func TestSMS(t *testing.T) {
	t.Parallel()
	r := start(t)
	ctx := t.Context()
	zw, err := r.sb.Citizen(ctx, "c001")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.sb.LastCode(ctx, zw.Phone); !errors.Is(err, sandboxclient.ErrNoCode) {
		t.Fatalf("LastCode of an empty inbox = %v, want ErrNoCode", err)
	}
	before := time.Now()
	r.sendCode(zw.Phone, "135790")
	msgs, err := r.sb.Inbox(ctx, zw.Phone)
	if err != nil || len(msgs) != 1 || msgs[0].Code != "135790" || msgs[0].Phone != zw.Phone ||
		msgs[0].TemplateCode != "SMS_SHIMING_CODE" || !strings.Contains(msgs[0].Text, "135790") || msgs[0].Sent.IsZero() {
		t.Fatalf("Inbox = %+v, %v", msgs, err)
	}
	if code, err := r.sb.LastCode(ctx, zw.Phone); err != nil || code != "135790" {
		t.Errorf("LastCode = %q, %v", code, err)
	}
	if code, err := r.sb.WaitCode(ctx, zw.Phone, before); err != nil || code != "135790" {
		t.Errorf("WaitCode(since before) = %q, %v", code, err)
	}
	// A second of slack for the two clocks.
	if code, err := r.sb.WaitCode(ctx, zw.Phone, msgs[0].Sent.Add(900*time.Millisecond)); err != nil || code != "135790" {
		t.Errorf("WaitCode(since just after) = %q, %v", code, err)
	}

	t.Run("ctx ends the wait", func(t *testing.T) {
		wait, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		code, err := r.sb.WaitCode(wait, zw.Phone, msgs[0].Sent.Add(2*time.Second))
		if !errors.Is(err, context.DeadlineExceeded) || code != "" {
			t.Fatalf("WaitCode = %q, %v; want the deadline", code, err)
		}
		if strings.Contains(err.Error(), zw.Phone) {
			t.Errorf("the error shows the phone number: %v", err)
		}
	})
	t.Run("cancel ends the wait", func(t *testing.T) {
		wait, cancel := context.WithCancel(ctx)
		time.AfterFunc(100*time.Millisecond, cancel)
		if _, err := r.sb.WaitCode(wait, "13512345678", before); !errors.Is(err, context.Canceled) {
			t.Fatalf("WaitCode = %v; want context.Canceled", err)
		}
	})
}

func TestFaults(t *testing.T) {
	t.Parallel()
	r := start(t)
	ctx := t.Context()
	reused := sandboxclient.Fault{Vendor: "wechat", Path: "/sns/oauth2/access_token", Code: "40163", Count: 1}
	slow := sandboxclient.Fault{Vendor: "sms", LatencyMS: 250}
	for _, f := range []sandboxclient.Fault{reused, slow} {
		if err := r.sb.AddFault(ctx, f); err != nil {
			t.Fatalf("AddFault(%+v) = %v", f, err)
		}
	}
	got, err := r.sb.Faults(ctx)
	if err != nil || !slices.Equal(got, []sandboxclient.Fault{reused, slow}) {
		t.Fatalf("Faults = %+v, %v", got, err)
	}
	if err := r.sb.ClearFaults(ctx, "wechat"); err != nil {
		t.Fatal(err)
	}
	if got, err := r.sb.Faults(ctx); err != nil || !slices.Equal(got, []sandboxclient.Fault{slow}) {
		t.Fatalf("after clearing wechat: %+v, %v", got, err)
	}
	if err := r.sb.ClearFaults(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if got, err := r.sb.Faults(ctx); err != nil || len(got) != 0 {
		t.Fatalf("after clearing all: %+v, %v", got, err)
	}
}
