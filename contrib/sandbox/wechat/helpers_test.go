package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/citizens"
	"github.com/shiming-id/shiming/contrib/sandbox/fault"
	"github.com/shiming-id/shiming/contrib/sandbox/phone"
	"github.com/shiming-id/shiming/contrib/sandbox/simenv"
)

// clock is a settable clock for expiry tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	t      *testing.T
	sim    *Sim
	srv    *httptest.Server
	clock  *clock
	faults *fault.Set
	app    App
	other  App
	reg    *citizens.Registry
}

var (
	testApp  = App{AppID: "wx0123456789abcdef", Secret: "0123456789abcdef0123456789abcdef", Name: "测试网关", RedirectDomains: []string{"gateway.example", "127.0.0.1:8080"}}
	otherApp = App{AppID: "wxfedcba9876543210", Secret: "fedcba9876543210fedcba9876543210", Name: "另一个应用", RedirectDomains: []string{"other.example"}}
)

const callback = "https://gateway.example/callback/wechat"

func newFixture(t *testing.T, opts Options, dataDir string) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: &clock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}, faults: &fault.Set{},
		app: testApp, other: otherApp, reg: citizens.Default()}
	mux := http.NewServeMux()
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	env := simenv.Env{Logger: slog.New(slog.DiscardHandler), Now: f.clock.Now, PublicURL: f.srv.URL,
		DataDir: dataDir, Citizens: f.reg, Faults: f.faults}
	sim, err := New(env, []App{f.app, f.other}, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.sim = sim
	for host, h := range sim.Routes() {
		mux.Handle("/"+host+"/", http.StripPrefix("/"+host, h))
	}
	return f
}

func (f *fixture) url(host, pathQuery string) string {
	return f.srv.URL + "/" + host + pathQuery
}

// get fetches a URL and returns status, content type and body.
func (f *fixture) get(u string) (int, string, string) {
	f.t.Helper()
	resp, err := f.srv.Client().Get(u)
	if err != nil {
		f.t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// api calls api.weixin.qq.com and decodes the JSON answer, which must
// come with HTTP 200.
func (f *fixture) api(method, path string, q url.Values, body any) map[string]any {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, f.url(APIHost, path)+"?"+q.Encode(), rd)
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		f.t.Fatalf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		f.t.Fatalf("%s %s: body is not JSON: %v", method, path, err)
	}
	return m
}

func errcode(m map[string]any) int {
	n, _ := m["errcode"].(float64)
	return int(n)
}

// wantErr checks an error answer: its code and the rid suffix.
func wantErr(t *testing.T, m map[string]any, code int) {
	t.Helper()
	if got := errcode(m); got != code {
		t.Fatalf("errcode = %d (%v), want %d", got, m["errmsg"], code)
	}
	if msg, _ := m["errmsg"].(string); !regexp.MustCompile(`, rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$`).MatchString(msg) {
		t.Fatalf("errmsg %q lacks the rid suffix", msg)
	}
}

var uuidRE = regexp.MustCompile(`<img class="qrcode lightBorder js_qrcode_img" src="([^"]*/connect/qrcode/([^"]+))">`)

// startLogin opens the QR login page as a plugin would and returns the uuid.
func (f *fixture) startLogin(app App) string {
	f.t.Helper()
	q := url.Values{"appid": {app.AppID}, "redirect_uri": {"https://" + app.RedirectDomains[0] + "/callback/wechat"}, "response_type": {"code"},
		"scope": {"snsapi_login"}, "state": {"abc123"}}
	status, ctype, body := f.get(f.url(OpenHost, "/connect/qrconnect?"+q.Encode()+"#wechat_redirect"))
	if status != 200 || ctype != "text/html; charset=utf-8" {
		f.t.Fatalf("qrconnect: HTTP %d %q", status, ctype)
	}
	m := uuidRE.FindStringSubmatch(body)
	if m == nil {
		f.t.Fatalf("qrconnect page has no QR image:\n%s", body)
	}
	return m[2]
}

var pollRE = regexp.MustCompile(`^window\.wx_errcode=(\d+);window\.wx_code='([^']*)';$`)

func (f *fixture) poll(uuid, last string) (int, string) {
	f.t.Helper()
	q := url.Values{"uuid": {uuid}, "_": {"1700000000000"}}
	if last != "" {
		q.Set("last", last)
	}
	status, _, body := f.get(f.url(LongPollHost, "/connect/l/qrconnect?"+q.Encode()))
	m := pollRE.FindStringSubmatch(body)
	if status != 200 || m == nil {
		f.t.Fatalf("poll: HTTP %d %q", status, body)
	}
	n, _ := strconv.Atoi(m[1])
	return n, m[2]
}

func (f *fixture) citizen(key string) citizens.Citizen {
	f.t.Helper()
	c, ok := f.reg.ByKey(key)
	if !ok {
		f.t.Fatalf("no citizen %s", key)
	}
	return c
}

func (f *fixture) act(itemID string, a phone.Action, key string) (phone.Outcome, error) {
	return f.sim.Act(context.Background(), itemID, a, f.citizen(key))
}

// loginCode runs a QR login confirmed by a citizen and returns the code.
func (f *fixture) loginCode(app App, key string) string {
	f.t.Helper()
	uuid := f.startLogin(app)
	if _, err := f.act(itemQR+uuid, phone.Confirm, key); err != nil {
		f.t.Fatalf("confirm: %v", err)
	}
	st, code := f.poll(uuid, "")
	if st != qrConfirmed || code == "" {
		f.t.Fatalf("poll after confirm = %d %q", st, code)
	}
	return code
}

func (f *fixture) exchange(app App, code string) map[string]any {
	return f.api("GET", "/sns/oauth2/access_token", url.Values{"appid": {app.AppID}, "secret": {app.Secret},
		"code": {code}, "grant_type": {"authorization_code"}}, nil)
}

// mint calls the sandbox-defined wx.login / phone-number endpoints.
func (f *fixture) mint(path string, body string) (int, map[string]any) {
	f.t.Helper()
	resp, err := f.srv.Client().Post(f.url(SandboxHost, path), "application/json", strings.NewReader(body))
	if err != nil {
		f.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func (f *fixture) jsCode(key string) string {
	f.t.Helper()
	status, m := f.mint("/login", `{"appid":"`+f.app.AppID+`","citizen":"`+key+`"}`)
	code, _ := m["code"].(string)
	if status != 200 || code == "" {
		f.t.Fatalf("wx.login: HTTP %d %v", status, m)
	}
	return code
}

func (f *fixture) serverToken(app App) string {
	f.t.Helper()
	m := f.api("GET", "/cgi-bin/token", url.Values{"grant_type": {"client_credential"}, "appid": {app.AppID}, "secret": {app.Secret}}, nil)
	tok, _ := m["access_token"].(string)
	if tok == "" {
		f.t.Fatalf("cgi-bin/token: %v", m)
	}
	return tok
}
