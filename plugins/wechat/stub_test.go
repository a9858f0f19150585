package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk"
)

// stub is a WeChat that answers recorded fixtures from testdata/, served
// like the sandbox under one path prefix per real host, and records
// every request it gets.
type stub struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	routes map[string][]answer // host + path → answers in turn; the last repeats
	hits   map[string]int
	reqs   []recorded
}

// answer is a fixture file answered with a status.
type answer struct {
	status int
	file   string
}

// fx answers a fixture with HTTP 200.
func fx(file string) answer { return answer{http.StatusOK, file} }

// status answers a fixture with another HTTP status.
func status(code int, file string) answer { return answer{code, file} }

// recorded is a request as WeChat would see it.
type recorded struct {
	Method      string            `json:"method"`
	Path        string            `json:"path"`
	Query       map[string]string `json:"query"`
	ContentType string            `json:"content_type,omitempty"`
	Body        json.RawMessage   `json:"body,omitempty"`
}

// The paths of the endpoints, as served by the stub (host prefix + path).
const (
	routeQRConnect   = "/open.weixin.qq.com/connect/qrconnect"
	routeLongPoll    = "/lp.open.weixin.qq.com/connect/l/qrconnect"
	routeAccessToken = "/api.weixin.qq.com/sns/oauth2/access_token"
	routeUserInfo    = "/api.weixin.qq.com/sns/userinfo"
	routeServerToken = "/api.weixin.qq.com/cgi-bin/token"
	routeGetVerifyID = "/api.weixin.qq.com" + pathGetVerifyID
	routeQueryVerify = "/api.weixin.qq.com" + pathQueryVerifyInfo
)

func newStub(t *testing.T) *stub {
	s := &stub{t: t, routes: map[string][]answer{}, hits: map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	// The answers a happy path needs; a test replaces the ones it studies.
	s.on(routeQRConnect, fx("qrconnect/real.html"))
	s.on(routeLongPoll, fx("lp/408.js"))
	s.on(routeAccessToken, fx("api/oauth2_access_token.json"))
	s.on(routeUserInfo, fx("api/sns_userinfo.json"))
	s.on(routeServerToken, fx("api/cgi_bin_token.json"))
	s.on(routeGetVerifyID, fx("api/getverifyid.json"))
	s.on(routeQueryVerify, fx("api/queryverifyinfo_90210.json"))
	return s
}

// on sets the answers of a route.
func (s *stub) on(route string, answers ...answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.routes[route] = answers
	s.hits[route] = 0
}

// count is how many requests a route got.
func (s *stub) count(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[route]
}

// requests returns the requests recorded so far.
func (s *stub) requests() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recorded(nil), s.reqs...)
}

func (s *stub) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec := recorded{Method: r.Method, Path: r.URL.Path, Query: map[string]string{}}
	for k, v := range r.URL.Query() {
		rec.Query[k] = strings.Join(v, ",")
	}
	if len(body) > 0 {
		rec.ContentType = r.Header.Get("Content-Type")
		rec.Body = body
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, rec)
	answers, ok := s.routes[r.URL.Path]
	n := s.hits[r.URL.Path]
	s.hits[r.URL.Path]++
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	a := answers[min(n, len(answers)-1)]
	b, err := os.ReadFile(filepath.Join("testdata", a.file))
	if err != nil {
		s.t.Errorf("fixture %s: %v", a.file, err)
		http.Error(w, "no fixture", http.StatusInternalServerError)
		return
	}
	switch {
	case strings.HasSuffix(a.file, ".html"):
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
	case strings.HasSuffix(a.file, ".js"):
		w.Header().Set("Content-Type", "application/javascript")
	default:
		w.Header().Set("Content-Type", "application/json; encoding=utf-8")
	}
	w.WriteHeader(a.status)
	_, _ = w.Write(b)
}

// stubAppID is the app the stub's tests configure.
const stubAppID = "wx6f1b2c3d4e5f6a7b"

// stubConfig is a configuration pointing at the stub; extra fields are
// added or override.
func (s *stub) config(extra map[string]string) json.RawMessage {
	m := map[string]string{
		"app_id":        stubAppID,
		"app_secret":    "0123456789abcdef0123456789abcdef",
		"api_base":      s.srv.URL + "/api.weixin.qq.com",
		"open_base":     s.srv.URL + "/open.weixin.qq.com",
		"lp_base":       s.srv.URL + "/lp.open.weixin.qq.com",
		"face_page_url": "https://exam.example/wxface",
		"handle_key":    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	}
	for k, v := range extra {
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		s.t.Fatal(err)
	}
	return b
}

// fixedClock is a test clock that only moves when told.
type fixedClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFixedClock() *fixedClock {
	return &fixedClock{now: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)}
}

func (c *fixedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fixedClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// provider returns a provider configured for the stub.
func (s *stub) provider(c *fixedClock, extra map[string]string) *Provider {
	s.t.Helper()
	p := New(WithLogger(quiet()), WithClock(c.Now))
	if err := p.Configure(context.Background(), s.config(extra)); err != nil {
		s.t.Fatalf("Configure: %v", err)
	}
	return p
}

// wantErr fails unless err is an *sdk.Error of kind k with the vendor
// code (when given) and exactly the fields (when given).
func wantErr(t *testing.T, err error, k sdk.Kind, vendorCode string, fields ...string) {
	t.Helper()
	if got := sdk.KindOf(err); got != k {
		t.Fatalf("error %v: kind %v, want %v", err, got, k)
	}
	if vendorCode != "" && sdk.VendorCodeOf(err) != vendorCode {
		t.Errorf("error %v: vendor code %q, want %q", err, sdk.VendorCodeOf(err), vendorCode)
	}
	if fields != nil {
		var e *sdk.Error
		_ = errors.As(err, &e)
		if strings.Join(e.Fields, ",") != strings.Join(fields, ",") {
			t.Errorf("error %v: fields %v, want %v", err, e.Fields, fields)
		}
	}
}

// errcodeFixture is the recorded error answer of an errcode.
func errcodeFixture(code int) answer { return fx("errcode/" + strconv.Itoa(code) + ".json") }
