package wechat

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox"
	"github.com/shiming-id/shiming/contrib/sandbox/citizens"
	"github.com/shiming-id/shiming/contrib/sandbox/fault"
	sbwechat "github.com/shiming-id/shiming/contrib/sandbox/wechat"
	"github.com/shiming-id/shiming/plugins/sdk/providertest"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// clock is the sandbox's clock: real time plus an offset the tests move.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// vendor is the sandbox's WeChat behind an httptest server, with the
// virtual phone acting for the test people. It implements
// providertest.Phone by driving the sandbox's phone API over HTTP.
type vendor struct {
	t         *testing.T
	url       string
	sb        *sandbox.Sandbox
	clock     *clock
	app       sbwechat.App // the app of Config
	other     sbwechat.App // the app of OtherConfig
	handleKey string
	people    providertest.People
	http      *http.Client
}

func newVendor(t *testing.T) *vendor {
	t.Helper()
	apps, err := sandbox.GenerateApps()
	if err != nil {
		t.Fatal(err)
	}
	other, err := sbwechat.GenerateApp("另一个应用")
	if err != nil {
		t.Fatal(err)
	}
	apps.WeChat = append(apps.WeChat, other)
	srv := httptest.NewUnstartedServer(nil)
	v := &vendor{t: t, url: "http://" + srv.Listener.Addr().String(), clock: &clock{},
		app: apps.WeChat[0], other: other, handleKey: newKey(t), http: &http.Client{Timeout: 30 * time.Second}}
	v.sb, err = sandbox.New(sandbox.Config{DataDir: t.TempDir(), PublicURL: v.url, Now: v.clock.Now, Apps: apps, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = v.sb.Handler()
	srv.Start()
	t.Cleanup(func() {
		v.sb.Close()
		srv.Close()
	})
	reg := citizens.Default()
	person := func(key string) providertest.Person {
		c, ok := reg.ByKey(key)
		if !ok {
			t.Fatalf("citizen %s missing", key)
		}
		return providertest.Person{Name: c.Name, IDNumber: c.IDNumber, Phone: c.Phone, Subject: v.openID(c.Key)}
	}
	// c001 passes everything; c035's card name is not the registry's;
	// c031's face does not match.
	v.people = providertest.People{Match: person("c001"), Mismatch: person("c035"), FaceFail: person("c031")}
	return v
}

func newKey(t testing.TB) string {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(k)
}

// host is the sandbox base URL of a simulated host.
func (v *vendor) host(h string) string { return v.url + "/" + h }

// config is a valid configuration for app, pointing at the sandbox.
func (v *vendor) config(app sbwechat.App) json.RawMessage {
	b, err := json.Marshal(map[string]string{
		"app_id":        app.AppID,
		"app_secret":    app.Secret,
		"api_base":      v.host(sbwechat.APIHost),
		"open_base":     v.host(sbwechat.OpenHost),
		"lp_base":       v.host(sbwechat.LongPollHost),
		"face_page_url": v.host(sbwechat.SandboxHost) + "/face",
		"handle_key":    v.handleKey,
	})
	if err != nil {
		v.t.Fatal(err)
	}
	return b
}

// openID logs a citizen into the mini-program (wx.login on the phone,
// then jscode2session as the app's server would) and returns the openid
// WeChat issued, which face verification needs.
func (v *vendor) openID(citizen string) string {
	v.t.Helper()
	var minted struct {
		Code string `json:"code"`
	}
	v.mustJSON(http.MethodPost, v.host(sbwechat.SandboxHost)+"/login", map[string]string{"appid": v.app.AppID, "citizen": citizen}, &minted)
	q := url.Values{"appid": {v.app.AppID}, "secret": {v.app.Secret}, "js_code": {minted.Code}, "grant_type": {"authorization_code"}}
	var session struct {
		OpenID  string `json:"openid"`
		ErrCode int    `json:"errcode"`
	}
	v.mustJSON(http.MethodGet, v.host(sbwechat.APIHost)+"/sns/jscode2session?"+q.Encode(), nil, &session)
	if session.OpenID == "" {
		v.t.Fatalf("jscode2session for %s: errcode %d", citizen, session.ErrCode)
	}
	return session.OpenID
}

func (v *vendor) mustJSON(method, u string, body, out any) {
	v.t.Helper()
	if err := v.doJSON(context.Background(), method, u, body, out); err != nil {
		v.t.Fatal(err)
	}
}

func (v *vendor) doJSON(ctx context.Context, method, u string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := v.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", method, req.URL.Path, resp.Status, b)
	}
	return json.Unmarshal(b, out)
}

// act performs an action on the virtual phone as a citizen.
func (v *vendor) act(ctx context.Context, qr, action, citizen string) error {
	var out json.RawMessage
	return v.doJSON(ctx, http.MethodPost, v.url+"/phone/api/act",
		map[string]string{"qr": qr, "action": action, "citizen": citizen}, &out)
}

func (v *vendor) Scan(ctx context.Context, qr string) error {
	return v.act(ctx, qr, "scan", v.people.Match.IDNumber)
}

// Approve confirms on the phone. WeChat reports the confirmation through
// the long-poll (the redirect is made by the login page's script), so
// there is no callback query.
func (v *vendor) Approve(ctx context.Context, qr string) (map[string]string, error) {
	return nil, v.act(ctx, qr, "confirm", v.people.Match.IDNumber)
}

func (v *vendor) Cancel(ctx context.Context, qr string) (map[string]string, error) {
	return nil, v.act(ctx, qr, "cancel", v.people.Match.IDNumber)
}

// Expire moves the sandbox's clock past the QR lifetime.
func (v *vendor) Expire(context.Context, string) error {
	v.clock.Advance(6 * time.Minute)
	return nil
}

// Face passes the face check as the person it was begun for, whom the
// phone shows in the item's title (人脸核身：NAME（masked ID）).
func (v *vendor) Face(ctx context.Context, qr string) error {
	var pending struct {
		Items []struct {
			Title     string `json:"title"`
			QRContent string `json:"qr_content"`
		} `json:"items"`
	}
	if err := v.doJSON(ctx, http.MethodGet, v.url+"/phone/api/pending", nil, &pending); err != nil {
		return err
	}
	for _, it := range pending.Items {
		if it.QRContent != qr {
			continue
		}
		for _, p := range []providertest.Person{v.people.Match, v.people.FaceFail, v.people.Mismatch} {
			if strings.Contains(it.Title, "："+p.Name+"（") {
				return v.act(ctx, qr, "pass", p.IDNumber)
			}
		}
		return fmt.Errorf("face item %q is for nobody the test knows", it.Title)
	}
	return fmt.Errorf("no pending face item for %s", qr)
}

func (v *vendor) SMSCode(context.Context, string) (string, error) {
	return "", fmt.Errorf("WeChat sends no SMS")
}

// slow makes every WeChat host answer after 30 s until restored.
func (v *vendor) slow() func() {
	v.sb.Faults().Add(fault.Rule{Vendor: sbwechat.Vendor, Latency: 30 * time.Second})
	return func() { v.sb.Faults().Clear(sbwechat.Vendor) }
}

// fault injects a vendor code on a path for the next n requests.
func (v *vendor) fault(path, code string, n int) {
	v.sb.Faults().Add(fault.Rule{Vendor: sbwechat.Vendor, Path: path, Code: code, Count: n})
	v.t.Cleanup(func() { v.sb.Faults().Clear(sbwechat.Vendor) })
}

var _ providertest.Phone = (*vendor)(nil)
