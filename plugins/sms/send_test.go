package sms

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sbsms "github.com/shiming-id/shiming/contrib/sandbox/sms"
	"github.com/shiming-id/shiming/plugins/sdk"
)

// stub is an Alibaba Cloud SMS answering a recorded fixture, recording
// every request.
type stub struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	status int
	file   string
	reqs   []stubRequest
}

type stubRequest struct {
	method, path, contentType string
	form                      url.Values
}

func newStub(t *testing.T) *stub {
	s := &stub{t: t, status: http.StatusOK, file: "answers/OK.json"}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		s.mu.Lock()
		s.reqs = append(s.reqs, stubRequest{r.Method, r.URL.Path, r.Header.Get("Content-Type"), form})
		status, file := s.status, s.file
		s.mu.Unlock()
		b, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Errorf("fixture: %v", err)
		}
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write(b)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// answer sets the fixture answered with status.
func (s *stub) answer(status int, file string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.file = status, file
}

func (s *stub) requests() []stubRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

// lastCode is the code the last request asked Alibaba Cloud to send.
func (s *stub) lastCode() string {
	reqs := s.requests()
	var tp map[string]string
	if err := json.Unmarshal([]byte(reqs[len(reqs)-1].form.Get("TemplateParam")), &tp); err != nil {
		s.t.Fatal(err)
	}
	return tp["code"]
}

const (
	stubKeyID  = "LTAI5tQ9xBvKz2YcNmRw8pJd"
	stubSecret = "qW3eR5tY7uI9oP1aS3dF5gH7jK9lZx"
	stubSign   = "实名网关"
	stubHKey   = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	stubPhone  = "13800001001"
)

func (s *stub) config(extra map[string]string) json.RawMessage {
	m := map[string]string{
		"access_key_id":     stubKeyID,
		"access_key_secret": stubSecret,
		"sign_name":         stubSign,
		"api_base":          s.srv.URL,
		"handle_key":        stubHKey,
	}
	for k, v := range extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return b
}

// clock is a test clock that moves only when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (s *stub) provider(c *clock, extra map[string]string) *Provider {
	s.t.Helper()
	p := New(WithLogger(quiet()), WithClock(c.Now))
	if err := p.Configure(context.Background(), s.config(extra)); err != nil {
		s.t.Fatalf("Configure: %v", err)
	}
	return p
}

// wantErr fails unless err has kind k, the vendor code (when given) and
// exactly field as its fields (none when empty).
func wantErr(t *testing.T, err error, k sdk.Kind, vendorCode, field string) {
	t.Helper()
	var e *sdk.Error
	if !errors.As(err, &e) || e.Kind != k {
		t.Fatalf("error %v: kind %v, want %v", err, sdk.KindOf(err), k)
	}
	if vendorCode != "" && e.VendorCode != vendorCode {
		t.Errorf("error %v: vendor code %q, want %q", err, e.VendorCode, vendorCode)
	}
	want := []string{field}
	if field == "" {
		want = nil
	}
	if !slices.Equal(e.Fields, want) {
		t.Errorf("error %v: fields %v, want %v", err, e.Fields, want)
	}
}

func TestSendCodeAnswers(t *testing.T) {
	cases := []struct {
		file   string
		status int
		kind   sdk.Kind
		code   string
		field  string
	}{
		{"answers/isv.BUSINESS_LIMIT_CONTROL.json", 200, sdk.RateLimited, "isv.BUSINESS_LIMIT_CONTROL", ""},
		{"answers/isv.DAY_LIMIT_CONTROL.json", 200, sdk.RateLimited, "isv.DAY_LIMIT_CONTROL", ""},
		{"answers/Throttling.User.json", 400, sdk.RateLimited, "Throttling.User", ""},
		{"answers/isv.MOBILE_NUMBER_ILLEGAL.json", 200, sdk.InvalidRequest, "isv.MOBILE_NUMBER_ILLEGAL", "phone"},
		{"answers/isv.MOBILE_COUNT_OVER_LIMIT.json", 200, sdk.InvalidRequest, "isv.MOBILE_COUNT_OVER_LIMIT", "phone"},
		{"answers/isv.SMS_SIGNATURE_ILLEGAL.json", 200, sdk.InvalidConfig, "isv.SMS_SIGNATURE_ILLEGAL", "sign_name"},
		{"answers/isv.SMS_TEMPLATE_ILLEGAL.json", 200, sdk.InvalidConfig, "isv.SMS_TEMPLATE_ILLEGAL", "template_code"},
		{"answers/isv.TEMPLATE_MISSING_PARAMETERS.json", 200, sdk.InvalidConfig, "isv.TEMPLATE_MISSING_PARAMETERS", "template_code"},
		{"answers/isv.INVALID_JSON_PARAM.json", 200, sdk.InvalidConfig, "isv.INVALID_JSON_PARAM", "template_code"},
		{"answers/InvalidAccessKeyId.NotFound.json", 404, sdk.InvalidConfig, "InvalidAccessKeyId.NotFound", "access_key_id"},
		{"answers/InvalidAccessKeyId.Inactive.json", 400, sdk.InvalidConfig, "InvalidAccessKeyId.Inactive", "access_key_id"},
		{"answers/SignatureDoesNotMatch.json", 400, sdk.InvalidConfig, "SignatureDoesNotMatch", "access_key_secret"},
		{"answers/InvalidSignatureMethod.json", 400, sdk.InvalidConfig, "InvalidSignatureMethod", ""},
		{"answers/InvalidAction.NotFound.json", 404, sdk.InvalidConfig, "InvalidAction.NotFound", "api_base"},
		{"answers/Forbidden.RAM.json", 403, sdk.InvalidConfig, "Forbidden.RAM", "access_key_id"},
		{"answers/InvalidTimeStamp.Expired.json", 400, sdk.VendorUnavailable, "InvalidTimeStamp.Expired", ""},
		{"answers/SignatureNonceUsed.json", 400, sdk.VendorUnavailable, "SignatureNonceUsed", ""},
		{"answers/MissingPhoneNumbers.json", 400, sdk.VendorUnavailable, "MissingPhoneNumbers", ""},
		{"answers/isp.SYSTEM_ERROR.json", 200, sdk.VendorUnavailable, "isp.SYSTEM_ERROR", ""},
		{"answers/isv.AMOUNT_NOT_ENOUGH.json", 200, sdk.VendorUnavailable, "isv.AMOUNT_NOT_ENOUGH", ""},
		{"answers/isv.OUT_OF_SERVICE.json", 200, sdk.VendorUnavailable, "isv.OUT_OF_SERVICE", ""},
		{"answers/ServiceUnavailable.json", 503, sdk.VendorUnavailable, "ServiceUnavailable", ""},
		{"answers/InternalError.json", 500, sdk.VendorUnavailable, "InternalError", ""},
		{"answers/OK.json", 500, sdk.VendorUnavailable, "OK", ""},
		{"garbage.txt", 200, sdk.VendorUnavailable, "http_200", ""},
		{"html_502.html", 502, sdk.VendorUnavailable, "http_502", ""},
		{"xml_ok.xml", 200, sdk.VendorUnavailable, "http_200", ""},
	}
	for _, tc := range cases {
		t.Run(strings.TrimSuffix(filepath.Base(tc.file), ".json"), func(t *testing.T) {
			s := newStub(t)
			s.answer(tc.status, tc.file)
			_, err := s.provider(newClock(), nil).SendCode(context.Background(), stubPhone, "bind_phone")
			wantErr(t, err, tc.kind, tc.code, tc.field)
		})
	}
}

func TestSendCodeRefusesBadRequests(t *testing.T) {
	cases := []struct {
		name, phone, purpose string
		fields               []string
	}{
		{"landline", "073188888888", "login", []string{"phone"}},
		{"short", "1380000100", "login", []string{"phone"}},
		{"no purpose", stubPhone, "", []string{"purpose"}},
		{"purpose with spaces", stubPhone, "bind phone", []string{"purpose"}},
		{"both", "x", strings.Repeat("p", 65), []string{"phone", "purpose"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStub(t)
			_, err := s.provider(newClock(), nil).SendCode(context.Background(), tc.phone, tc.purpose)
			var e *sdk.Error
			if !errors.As(err, &e) || e.Kind != sdk.InvalidRequest || !slices.Equal(e.Fields, tc.fields) {
				t.Fatalf("SendCode = %v, want InvalidRequest naming %v", err, tc.fields)
			}
			if len(s.requests()) != 0 {
				t.Error("the vendor was asked")
			}
		})
	}
}

var (
	hex32RE = regexp.MustCompile(`^[0-9a-f]{32}$`)
	codeRE  = regexp.MustCompile(`^[0-9]{6}$`)
)

// TestSendCodeRequest checks the request against Alibaba Cloud's SendSms
// documentation (testdata/sendsms_request.json lists every parameter and
// its value or shape) and its signature against the sandbox's independent
// implementation.
func TestSendCodeRequest(t *testing.T) {
	s, c := newStub(t), newClock()
	p := s.provider(c, nil)
	tk, err := p.SendCode(context.Background(), "+86 138-0000-1001", "bind_phone")
	if err != nil {
		t.Fatal(err)
	}
	if want := c.Now().Add(5 * time.Minute); !tk.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %v, want %v", tk.ExpiresAt, want)
	}
	reqs := s.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.method != http.MethodPost || r.path != "/" || !strings.HasPrefix(r.contentType, "application/x-www-form-urlencoded") {
		t.Errorf("%s %s (%s), want a form POST to /", r.method, r.path, r.contentType)
	}
	var want map[string]string
	b, err := os.ReadFile("testdata/sendsms_request.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	delete(want, "_doc")
	shapes := map[string]func(string) bool{
		"{hex32}":     hex32RE.MatchString,
		"{timestamp}": func(v string) bool { return v == c.Now().UTC().Format("2006-01-02T15:04:05Z") },
		"{signature}": func(v string) bool { return v == sbsms.Sign(http.MethodPost, r.form, stubSecret) },
		"{templateparam}": func(v string) bool {
			var tp map[string]string
			return json.Unmarshal([]byte(v), &tp) == nil && len(tp) == 2 && codeRE.MatchString(tp["code"]) && tp["minutes"] == "5" &&
				v == `{"code":"`+tp["code"]+`","minutes":"5"}`
		},
	}
	for name, w := range want {
		got, ok := r.form[name]
		switch {
		case !ok || len(got) != 1:
			t.Errorf("parameter %s: %v, want one value", name, got)
		case shapes[w] != nil && !shapes[w](got[0]):
			t.Errorf("parameter %s = %q, not %s", name, got[0], w)
		case shapes[w] == nil && got[0] != w:
			t.Errorf("parameter %s = %q, want %q", name, got[0], w)
		}
	}
	for name := range r.form {
		if _, ok := want[name]; !ok {
			t.Errorf("undocumented parameter %s", name)
		}
	}
	if _, err := p.SendCode(context.Background(), stubPhone, "bind_phone"); err != nil {
		t.Fatal(err)
	}
	reqs = s.requests()
	if reqs[0].form.Get("SignatureNonce") == reqs[1].form.Get("SignatureNonce") || reqs[0].form.Get("OutId") == reqs[1].form.Get("OutId") {
		t.Error("two requests share a SignatureNonce or an OutId")
	}
}

func TestCodeTTL(t *testing.T) {
	s, c := newStub(t), newClock()
	p := s.provider(c, map[string]string{"code_ttl": "90s"})
	tk, err := p.SendCode(context.Background(), stubPhone, "login")
	if err != nil {
		t.Fatal(err)
	}
	if want := c.Now().Add(90 * time.Second); !tk.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %v, want %v", tk.ExpiresAt, want)
	}
	var tp map[string]string
	_ = json.Unmarshal([]byte(s.requests()[0].form.Get("TemplateParam")), &tp)
	if tp["minutes"] != "2" {
		t.Errorf("minutes = %q, want 2 (90 s rounded up)", tp["minutes"])
	}
}

func TestNewCode(t *testing.T) {
	seen := map[string]bool{}
	for range 2000 {
		c, err := newCode()
		if err != nil || !codeRE.MatchString(c) {
			t.Fatalf("newCode = %q, %v", c, err)
		}
		seen[c] = true
	}
	// 2000 draws from a million give at most a handful of repeats; a
	// constant or low-entropy generator gives far fewer distinct codes.
	if len(seen) < 1900 {
		t.Errorf("only %d distinct codes in 2000", len(seen))
	}
}
