package sms

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox"
	"github.com/shiming-id/shiming/contrib/sandbox/citizens"
	"github.com/shiming-id/shiming/contrib/sandbox/fault"
	sbsms "github.com/shiming-id/shiming/contrib/sandbox/sms"
	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/providertest"
)

// serveEnv makes the re-executed test binary serve the provider as a
// plugin process, as `shiming plugin sms` does.
const serveEnv = "SHIMING_TEST_SERVE_PLUGIN"

func TestMain(m *testing.M) {
	if os.Getenv(serveEnv) == "sms" {
		sdk.Serve(New())
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// vendor is the sandbox's Alibaba Cloud SMS behind an httptest server.
// As a providertest.Phone it only reads the inbox: SMS has no QR.
type vendor struct {
	t      *testing.T
	url    string
	sb     *sandbox.Sandbox
	keys   []sbsms.Key
	people providertest.People
	http   *http.Client
}

// newVendor starts a sandbox; limits are its SMS flow control.
func newVendor(t *testing.T, limits sbsms.Limits) *vendor {
	t.Helper()
	apps, err := sandbox.GenerateApps()
	if err != nil {
		t.Fatal(err)
	}
	other, err := sbsms.GenerateKey("另一签名")
	if err != nil {
		t.Fatal(err)
	}
	apps.SMS = append(apps.SMS, other)
	srv := httptest.NewUnstartedServer(nil)
	v := &vendor{t: t, url: "http://" + srv.Listener.Addr().String(), keys: apps.SMS, http: &http.Client{Timeout: 30 * time.Second}}
	v.sb, err = sandbox.New(sandbox.Config{DataDir: t.TempDir(), PublicURL: v.url, Apps: apps, Logger: quiet(),
		SMS: sbsms.Options{Limits: limits}})
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
		return providertest.Person{Name: c.Name, IDNumber: c.IDNumber, Phone: c.Phone}
	}
	v.people = providertest.People{Match: person("c001"), Mismatch: person("c035"), FaceFail: person("c031")}
	return v
}

// unlimited turns the sandbox's flow control off, for the kit, which
// sends several codes to one phone within a minute.
var unlimited = sbsms.Limits{PerMinute: -1, PerHour: -1, PerDay: -1, NoticePerDay: -1}

func newKey(t testing.TB) string {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(k)
}

// config is a valid configuration for the i-th key, pointing at the
// sandbox.
func (v *vendor) config(i int, handleKey string) json.RawMessage {
	k := v.keys[i]
	b, err := json.Marshal(map[string]string{
		"access_key_id":     k.AccessKeyID,
		"access_key_secret": k.AccessKeySecret,
		"sign_name":         k.SignName,
		"api_base":          v.url + "/" + sbsms.Host + "/",
		"handle_key":        handleKey,
	})
	if err != nil {
		v.t.Fatal(err)
	}
	return b
}

var errNoQR = errors.New("an SMS vendor shows no QR code")

func (v *vendor) Scan(context.Context, string) error { return errNoQR }
func (v *vendor) Approve(context.Context, string) (map[string]string, error) {
	return nil, errNoQR
}
func (v *vendor) Cancel(context.Context, string) (map[string]string, error) {
	return nil, errNoQR
}
func (v *vendor) Expire(context.Context, string) error { return errNoQR }
func (v *vendor) Face(context.Context, string) error   { return errNoQR }

// SMSCode reads the newest message of the phone's inbox on the virtual
// phone.
func (v *vendor) SMSCode(ctx context.Context, phone string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.url+"/phone/api/sms?phone="+url.QueryEscape(phone), nil)
	if err != nil {
		return "", err
	}
	resp, err := v.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	var inbox struct {
		Messages []struct {
			Code         string `json:"code"`
			Text         string `json:"text"`
			TemplateCode string `json:"template_code"`
		} `json:"messages"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &inbox) != nil {
		return "", fmt.Errorf("inbox of %s: %s: %s", phone, resp.Status, b)
	}
	if len(inbox.Messages) == 0 || inbox.Messages[0].Code == "" {
		return "", fmt.Errorf("no code in the inbox of %s", phone)
	}
	return inbox.Messages[0].Code, nil
}

// slow makes the SMS endpoint answer after 30 s until restored.
func (v *vendor) slow() func() {
	v.sb.Faults().Add(fault.Rule{Vendor: sbsms.Vendor, Latency: 30 * time.Second})
	return func() { v.sb.Faults().Clear(sbsms.Vendor) }
}

var _ providertest.Phone = (*vendor)(nil)

func pluginCommand() *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = []string{serveEnv + "=sms"}
	return cmd
}

// TestConformance runs the conformance kit against the sandbox's SMS, in
// this process and over a real plugin process.
func TestConformance(t *testing.T) {
	v := newVendor(t, unlimited)
	key := newKey(t)
	providertest.Run(t, providertest.Harness{
		New:         func() sdk.Provider { return New(WithLogger(quiet())) },
		Command:     pluginCommand,
		Config:      v.config(0, key),
		OtherConfig: v.config(1, key),
		BadConfig:   json.RawMessage(`{"access_key_id":"","api_base":"ftp://x","handle_key":"c2hvcnQ=","code_ttl":"1s","accesskey":"typo"}`),
		BadFields:   []string{"access_key_id", "access_key_secret", "sign_name", "api_base", "handle_key", "code_ttl", "accesskey"},
		Phone:       v,
		People:      v.people,
		Slow:        v.slow,
	})
}

// TestSandboxMessage checks what the person receives: the approved
// signature, the code and the lifetime in the template's words.
func TestSandboxMessage(t *testing.T) {
	v := newVendor(t, unlimited)
	p := New(WithLogger(quiet()))
	ctx := context.Background()
	if err := p.Configure(ctx, v.config(0, newKey(t))); err != nil {
		t.Fatal(err)
	}
	phone := v.people.Match.Phone
	tk, err := p.SendCode(ctx, "+86 "+phone, "login")
	if err != nil {
		t.Fatal(err)
	}
	code, err := v.SMSCode(ctx, phone)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.VerifyCode(ctx, tk.Ticket, phone, "login", code); err != nil {
		t.Fatalf("VerifyCode with the normalised phone: %v", err)
	}
	text := v.inboxText(phone)
	if want := "【" + v.keys[0].SignName + "】您的验证码为" + code + "，5分钟内有效，请勿泄露。"; text != want {
		t.Errorf("message %q, want %q", text, want)
	}
}

func (v *vendor) inboxText(phone string) string {
	resp, err := v.http.Get(v.url + "/phone/api/sms?phone=" + phone)
	if err != nil {
		v.t.Fatal(err)
	}
	defer resp.Body.Close()
	var inbox struct {
		Messages []struct {
			Text string `json:"text"`
		} `json:"messages"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&inbox); err != nil || len(inbox.Messages) == 0 {
		v.t.Fatalf("inbox: %v", err)
	}
	return inbox.Messages[0].Text
}

// TestSandboxFlowControl sends twice within a minute under Alibaba
// Cloud's default limits: the second is RateLimited.
func TestSandboxFlowControl(t *testing.T) {
	v := newVendor(t, sbsms.Limits{})
	p := New(WithLogger(quiet()))
	ctx := context.Background()
	if err := p.Configure(ctx, v.config(0, newKey(t))); err != nil {
		t.Fatal(err)
	}
	if _, err := p.SendCode(ctx, v.people.Match.Phone, "login"); err != nil {
		t.Fatal(err)
	}
	_, err := p.SendCode(ctx, v.people.Match.Phone, "login")
	if sdk.KindOf(err) != sdk.RateLimited || sdk.VendorCodeOf(err) != "isv.BUSINESS_LIMIT_CONTROL" {
		t.Fatalf("second send within a minute = %v", err)
	}
}

// TestSandboxRefusals drives the sandbox into the errors a wrong
// configuration causes.
func TestSandboxRefusals(t *testing.T) {
	v := newVendor(t, unlimited)
	ctx := context.Background()
	base := map[string]string{}
	_ = json.Unmarshal(v.config(0, newKey(t)), &base)
	cases := []struct {
		name   string
		change map[string]string
		kind   sdk.Kind
		code   string
		field  string
	}{
		{"wrong secret", map[string]string{"access_key_secret": "wrong"}, sdk.InvalidConfig, "SignatureDoesNotMatch", "access_key_secret"},
		{"unknown key", map[string]string{"access_key_id": "LTAInobody"}, sdk.InvalidConfig, "InvalidAccessKeyId.NotFound", "access_key_id"},
		{"another key's signature", map[string]string{"sign_name": v.keys[1].SignName}, sdk.InvalidConfig, "isv.SMS_SIGNATURE_ILLEGAL", "sign_name"},
		{"unknown template", map[string]string{"template_code": "SMS_NOPE"}, sdk.InvalidConfig, "isv.SMS_TEMPLATE_ILLEGAL", "template_code"},
		{"notice template", map[string]string{"template_code": "SMS_SHIMING_PHONE_CHANGED"}, sdk.InvalidConfig, "isv.TEMPLATE_MISSING_PARAMETERS", "template_code"},
		{"api_base with a path", map[string]string{"api_base": base["api_base"] + "v2"}, sdk.InvalidConfig, "InvalidAction.NotFound", "api_base"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := map[string]string{}
			for k, val := range base {
				cfg[k] = val
			}
			for k, val := range tc.change {
				cfg[k] = val
			}
			raw, _ := json.Marshal(cfg)
			p := New(WithLogger(quiet()))
			if err := p.Configure(ctx, raw); err != nil {
				t.Fatal(err)
			}
			_, err := p.SendCode(ctx, v.people.Match.Phone, "login")
			wantErr(t, err, tc.kind, tc.code, tc.field)
		})
	}
	t.Run("faults", func(t *testing.T) {
		p := New(WithLogger(quiet()))
		if err := p.Configure(ctx, v.config(0, newKey(t))); err != nil {
			t.Fatal(err)
		}
		for _, f := range []struct {
			code string
			kind sdk.Kind
			want string
		}{
			{"http_500", sdk.VendorUnavailable, "http_500"},
			{"garbage", sdk.VendorUnavailable, "http_200"},
			{"isp.SYSTEM_ERROR", sdk.VendorUnavailable, "isp.SYSTEM_ERROR"},
			{"isv.BUSINESS_LIMIT_CONTROL", sdk.RateLimited, "isv.BUSINESS_LIMIT_CONTROL"},
		} {
			v.sb.Faults().Add(fault.Rule{Vendor: sbsms.Vendor, Code: f.code, Count: 1})
			_, err := p.SendCode(ctx, v.people.Match.Phone, "login")
			wantErr(t, err, f.kind, f.want, "")
		}
	})
}
