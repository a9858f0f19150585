package sandbox

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/ctid"
	"github.com/shiming-id/shiming/contrib/sandbox/sms"
	"github.com/shiming-id/shiming/contrib/sandbox/wechat"
)

func TestLoadOrCreateApps(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	first, err := LoadOrCreateApps(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.WeChat) != 1 || len(first.Alipay) != 1 || len(first.CTID) != 1 || len(first.SMS) != 1 || len(first.OIDCClients) != 1 {
		t.Fatalf("generated %+v", first)
	}
	if first.CTID[0].OrgPrivateKeyPEM == "" || first.Alipay[0].AppPrivateKeyPEM == "" || first.WeChat[0].Secret == "" ||
		first.SMS[0].AccessKeySecret == "" || first.OIDCClients[0].Secret == "" {
		t.Fatal("a generated credential is empty")
	}
	info, err := os.Stat(filepath.Join(dir, AppsFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("apps file: %v %v", info.Mode(), err)
	}
	again, err := LoadOrCreateApps(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(first)
	b, _ := json.Marshal(again)
	if !bytes.Equal(a, b) {
		t.Fatal("second run generated new credentials")
	}
	if _, err := LoadOrCreateApps(""); err == nil {
		t.Fatal("accepted an empty data folder")
	}
	bad := filepath.Join(t.TempDir(), "apps.yaml")
	_ = os.WriteFile(bad, []byte("wechat:\n  - app_id: wx1\n    secrte: typo\n"), 0o600)
	if _, err := LoadApps(bad); err == nil || !strings.Contains(err.Error(), "secrte") {
		t.Fatalf("LoadApps with a typo = %v", err)
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	if _, err := New(Config{PublicURL: "not a url"}); err == nil {
		t.Fatal("accepted a bad PublicURL")
	}
	_, err := New(Config{PublicURL: "http://127.0.0.1:1", Apps: Apps{
		WeChat: []wechat.App{{AppID: "wx1"}},
		CTID:   []ctid.Org{{OrgCode: "X", OrgPublicKeyPEM: "nope"}},
		SMS:    []sms.Key{{AccessKeyID: "k"}},
	}})
	if err == nil {
		t.Fatal("accepted bad apps")
	}
	for _, want := range []string{"wechat:", "ctid:", "sms:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestMaskPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/phone/api/sms", "/phone/api/sms"},
		{"/x/13800001001/y", "/x/138****1001/y"},
		{"/x/43012219990520488x", "/x/430***********488X"},
		{"/open.weixin.qq.com/connect/qrcode/abcdefghijklmnopqrstu", "/open.weixin.qq.com/connect/qrcode/abcd…"},
	}
	for _, tc := range tests {
		if got := maskPath(tc.in); got != tc.want {
			t.Errorf("maskPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// stack is one sandbox behind an HTTP server, shared by the subtests of
// TestSandbox because its keys are slow to make.
type stack struct {
	t    *testing.T
	sb   *Sandbox
	srv  *httptest.Server
	apps Apps
	logs *bytes.Buffer
}

func (s *stack) do(method, path, ctype, body string, header ...string) (int, http.Header, string) {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.srv.URL+path, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func (s *stack) act(body string) map[string]any {
	s.t.Helper()
	status, _, out := s.do("POST", "/phone/api/act", "application/json", body)
	var m map[string]any
	if status != 200 || json.Unmarshal([]byte(out), &m) != nil {
		s.t.Fatalf("act %s: HTTP %d %s", body, status, out)
	}
	return m
}

func TestSandbox(t *testing.T) {
	apps, err := GenerateApps()
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	sb, err := New(Config{DataDir: t.TempDir(), PublicURL: srv.URL + "/", Apps: apps,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/", sb.Handler())
	s := &stack{t: t, sb: sb, srv: srv, apps: apps, logs: logs}

	t.Run("index and health", func(t *testing.T) {
		status, h, body := s.do("GET", "/", "", "")
		if status != 200 || h.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Fatalf("index: HTTP %d %q", status, h.Get("Content-Type"))
		}
		for _, host := range []string{wechat.OpenHost, wechat.LongPollHost, wechat.APIHost, "openapi.alipay.com", ctid.Host, sms.Host, "govidp", `href="` + srv.URL + `/phone/"`, apps.WeChat[0].AppID} {
			if !strings.Contains(body, host) {
				t.Errorf("index lacks %q", host)
			}
		}
		if strings.Contains(body, apps.WeChat[0].Secret) || strings.Contains(body, apps.SMS[0].AccessKeySecret) {
			t.Error("index shows a secret")
		}
		if status, _, body := s.do("GET", "/sandbox/healthz", "", ""); status != 200 || body != "ok\n" {
			t.Fatalf("healthz: HTTP %d %q", status, body)
		}
		if status, _, _ := s.do("GET", "/sandbox/static/sandbox.css", "", ""); status != 200 {
			t.Fatalf("css: HTTP %d", status)
		}
		if status, _, _ := s.do("GET", "/nosuch.host/x", "", ""); status != 404 {
			t.Fatalf("unknown host: HTTP %d", status)
		}
		if sb.OIDCIssuer() != srv.URL+"/govidp" || !strings.Contains(sb.CTIDPlatformPublicKeyPEM(), "PUBLIC KEY") || !strings.Contains(sb.AlipayPublicKeyPEM(), "PUBLIC KEY") {
			t.Fatal("accessors")
		}
	})

	t.Run("fault API", func(t *testing.T) {
		tests := []struct {
			name, body string
			status     int
			want       string
		}{
			{"duration string", `{"vendor":"sms","latency":"250ms","count":1}`, 201, `"latency_ms":250`},
			{"milliseconds", `{"vendor":"ctid","latency":1500}`, 201, `"latency":"1.5s"`},
			{"numeric code", `{"vendor":"wechat","path":"/cgi-bin/token","code":45011,"count":1}`, 201, `"code":"45011"`},
			{"unknown vendor", `{"vendor":"weibo","code":"1"}`, 400, "vendor must be"},
			{"nothing to do", `{"vendor":"sms"}`, 400, "code or a latency"},
			{"negative count", `{"vendor":"sms","code":"x","count":-1}`, 400, "count"},
			{"bad latency", `{"vendor":"sms","latency":"soon"}`, 400, "latency"},
			{"too much latency", `{"vendor":"sms","latency":"1h"}`, 400, "latency"},
			{"both latencies", `{"vendor":"sms","latency":"1s","latency_ms":5}`, 400, "not both"},
			{"relative path", `{"vendor":"sms","path":"x","code":"y"}`, 400, "path"},
			{"unknown field", `{"vendor":"sms","code":"y","when":"now"}`, 400, "JSON object"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				status, h, body := s.do("POST", "/sandbox/faults", "application/json", tc.body)
				if status != tc.status || !strings.Contains(body, tc.want) || h.Get("Content-Type") != "application/json; charset=utf-8" {
					t.Fatalf("HTTP %d %s", status, body)
				}
			})
		}
		_, _, list := s.do("GET", "/sandbox/faults", "", "")
		var got struct {
			Faults []map[string]any `json:"faults"`
		}
		if json.Unmarshal([]byte(list), &got) != nil || len(got.Faults) != 3 {
			t.Fatalf("list = %s", list)
		}
		q := url.Values{"grant_type": {"client_credential"}, "appid": {apps.WeChat[0].AppID}, "secret": {apps.WeChat[0].Secret}}
		if _, _, body := s.do("GET", "/api.weixin.qq.com/cgi-bin/token?"+q.Encode(), "", ""); !strings.Contains(body, `"errcode":45011`) {
			t.Fatalf("injected 45011: %s", body)
		}
		if _, _, body := s.do("GET", "/api.weixin.qq.com/cgi-bin/token?"+q.Encode(), "", ""); !strings.Contains(body, `"access_token"`) {
			t.Fatalf("after the fault: %s", body)
		}
		if status, _, body := s.do("DELETE", "/sandbox/faults?vendor=sms", "", ""); status != 200 || !strings.Contains(body, `"cleared":"sms"`) || !strings.Contains(body, `"remaining":1`) {
			t.Fatalf("clear sms: HTTP %d %s", status, body)
		}
		if status, _, body := s.do("DELETE", "/sandbox/faults", "", ""); status != 200 || !strings.Contains(body, `"remaining":0`) {
			t.Fatalf("clear all: HTTP %d %s", status, body)
		}
		if status, _, _ := s.do("POST", "/sandbox/faults", "application/json", `{"vendor":"sms","code":"x"}`, "Sec-Fetch-Site", "cross-site"); status != http.StatusForbidden {
			t.Fatalf("cross-site fault POST: HTTP %d", status)
		}
		if status, _, _ := s.do("PUT", "/sandbox/faults", "", ""); status != http.StatusMethodNotAllowed {
			t.Fatalf("PUT: HTTP %d", status)
		}
	})

	t.Run("phone acts on WeChat", func(t *testing.T) {
		app := apps.WeChat[0]
		q := url.Values{"appid": {app.AppID}, "redirect_uri": {"http://127.0.0.1:8080/callback"}, "response_type": {"code"}, "scope": {"snsapi_login"}, "state": {"st"}}
		_, _, page := s.do("GET", "/open.weixin.qq.com/connect/qrconnect?"+q.Encode(), "", "")
		m := regexp.MustCompile(`/connect/qrcode/([^"]+)"`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no QR in %s", page)
		}
		qr := srv.URL + "/open.weixin.qq.com/connect/confirm?uuid=" + url.QueryEscape(m[1])
		out := s.act(`{"qr":"` + qr + `","action":"confirm","citizen":"c001"}`)
		if item := out["item"].(map[string]any); item["state"] != "confirmed" || item["vendor"] != "wechat" {
			t.Fatalf("act = %v", out)
		}
		_, _, js := s.do("GET", "/lp.open.weixin.qq.com/connect/l/qrconnect?uuid="+url.QueryEscape(m[1]), "", "")
		if !strings.HasPrefix(js, "window.wx_errcode=405;window.wx_code='") {
			t.Fatalf("poll = %s", js)
		}
	})

	t.Run("phone acts on Alipay", func(t *testing.T) {
		q := url.Values{"app_id": {apps.Alipay[0].AppID}, "scope": {"auth_user"}, "redirect_uri": {"http://127.0.0.1:8080/callback"}, "state": {"st"}}
		qr := srv.URL + "/openauth.alipay.com/oauth2/publicAppAuthorize.htm?" + q.Encode()
		out := s.act(`{"qr":"` + qr + `","action":"confirm","citizen":"c002"}`)
		redirect, _ := out["outcome"].(map[string]any)["redirect"].(string)
		if !strings.HasPrefix(redirect, "http://127.0.0.1:8080/callback?") || !strings.Contains(redirect, "auth_code=") {
			t.Fatalf("act = %v", out)
		}
	})

	t.Run("phone acts on CTID", func(t *testing.T) {
		org := apps.CTID[0]
		key, err := ctid.ParsePrivateKey(org.OrgPrivateKeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		call := func(path string, biz any) map[string]any {
			pkg, _ := json.Marshal(map[string]any{"orgCode": org.OrgCode, "bizData": biz})
			sign, _ := ctid.Sign(key, pkg)
			body, _ := json.Marshal(ctid.Envelope{BizPackage: string(pkg), Sign: sign})
			_, _, out := s.do("POST", "/ctid.sandbox"+path, "application/json", string(body))
			var env ctid.Envelope
			_ = json.Unmarshal([]byte(out), &env)
			pub, _ := ctid.ParsePublicKey(sb.CTIDPlatformPublicKeyPEM())
			if err := ctid.Verify(pub, []byte(env.BizPackage), env.Sign); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			var res struct {
				ResultCode string         `json:"resultCode"`
				BizData    map[string]any `json:"bizData"`
			}
			_ = json.Unmarshal([]byte(env.BizPackage), &res)
			if res.ResultCode != "0" {
				t.Fatalf("%s: resultCode %s", path, res.ResultCode)
			}
			return res.BizData
		}
		applied := call("/v1/apply", map[string]string{"authMode": ctid.ModeRead})
		out := s.act(`{"qr":"` + applied["qrContent"].(string) + `","action":"read","citizen":"c003"}`)
		if out["item"].(map[string]any)["state"] != ctid.StateRead {
			t.Fatalf("act = %v", out)
		}
		code := call("/v1/query", map[string]string{"bsn": applied["bsn"].(string)})["authCode"].(string)
		if id := call("/v1/identity", map[string]string{"authCode": code}); id["idNo"] != "430104199601053880" {
			t.Fatalf("identity = %v", id)
		}
	})

	t.Run("SMS reaches the phone", func(t *testing.T) {
		key := apps.SMS[0]
		p := url.Values{"AccessKeyId": {key.AccessKeyID}, "Action": {"SendSms"}, "Format": {"JSON"}, "Version": {sms.APIVersion},
			"SignatureMethod": {"HMAC-SHA1"}, "SignatureVersion": {"1.0"}, "SignatureNonce": {strconv.FormatInt(time.Now().UnixNano(), 36)},
			"Timestamp": {time.Now().UTC().Format("2006-01-02T15:04:05Z")}, "PhoneNumbers": {"13800001004"},
			"SignName": {key.SignName}, "TemplateCode": {"SMS_SHIMING_CODE"}, "TemplateParam": {`{"code":"135790","minutes":"5"}`}}
		p.Set("Signature", sms.Sign("POST", p, key.AccessKeySecret))
		if status, _, body := s.do("POST", "/dysmsapi.aliyuncs.com/", "application/x-www-form-urlencoded", p.Encode()); status != 200 || !strings.Contains(body, `"Code":"OK"`) {
			t.Fatalf("SendSms: HTTP %d %s", status, body)
		}
		_, _, inbox := s.do("GET", "/phone/api/sms?phone=13800001004", "", "")
		if !strings.Contains(inbox, `"code":"135790"`) {
			t.Fatalf("inbox = %s", inbox)
		}
		if strings.Contains(s.logs.String(), "13800001004") || strings.Contains(s.logs.String(), "135790") {
			t.Fatal("the log holds a full phone number or a code")
		}
		if !strings.Contains(s.logs.String(), `msg="sandbox request"`) {
			t.Fatal("no access log")
		}
	})
}
