package wechat

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"testing"

	"github.com/shiming-id/shiming/contrib/sandbox/fault"
	"github.com/shiming-id/shiming/contrib/sandbox/sandboxtest"
	sbwechat "github.com/shiming-id/shiming/contrib/sandbox/wechat"
	"github.com/shiming-id/shiming/plugins/sdk/providertest"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// vendor is the sandbox's WeChat behind an httptest server, with the
// virtual phone acting for the test people (sandboxtest).
type vendor struct {
	*sandboxtest.Server
	t         *testing.T
	app       sbwechat.App // the app of Config
	other     sbwechat.App // the app of OtherConfig
	handleKey string
	people    providertest.People
	phone     *sandboxtest.Phone
}

func newVendor(t *testing.T) *vendor {
	t.Helper()
	srv := sandboxtest.Start(t)
	v := &vendor{Server: srv, t: t, app: srv.Apps.WeChat[0], other: srv.Apps.WeChat[1], handleKey: sandboxtest.HandleKey(t)}
	person := func(key string) providertest.Person {
		p := srv.Person(key)
		p.Subject = v.openID(key)
		return p
	}
	// c001 passes everything; c035's card name is not the registry's;
	// c031's face does not match.
	v.people = providertest.People{Match: person("c001"), Mismatch: person("c035"), FaceFail: person("c031")}
	v.phone = srv.Phone(v.people)
	return v
}

// host is the sandbox base URL of a simulated host.
func (v *vendor) host(h string) string { return v.URL + "/" + h }

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

// mustJSON sends a JSON request to the sandbox and decodes its answer.
func (v *vendor) mustJSON(method, u string, body, out any) {
	v.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(v.t.Context(), method, u, rd)
	if err != nil {
		v.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := v.HTTP.Do(req)
	if err != nil {
		v.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		v.t.Fatalf("%s %s: %s: %s %v", method, req.URL.Path, resp.Status, b, err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		v.t.Fatalf("%s %s: %v", method, req.URL.Path, err)
	}
}

// fault injects a vendor code on a path for the next n requests.
func (v *vendor) fault(path, code string, n int) {
	v.Sandbox.Faults().Add(fault.Rule{Vendor: sbwechat.Vendor, Path: path, Code: code, Count: n})
	v.t.Cleanup(func() { v.Sandbox.Faults().Clear(sbwechat.Vendor) })
}
