package sms

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/citizens"
	"github.com/shiming-id/shiming/contrib/sandbox/fault"
	"github.com/shiming-id/shiming/contrib/sandbox/simenv"
)

func TestSignatureDocumentExample(t *testing.T) {
	// The worked example of Alibaba Cloud's SMS signature document.
	p := url.Values{
		"AccessKeyId": {"testId"}, "Action": {"SendSms"}, "Format": {"XML"}, "OutId": {"123"},
		"PhoneNumbers": {"15300000001"}, "RegionId": {"cn-hangzhou"}, "SignName": {"阿里云短信测试专用"},
		"SignatureMethod": {"HMAC-SHA1"}, "SignatureNonce": {"45e25e9b-0a6f-4070-8c85-2956eda1b466"},
		"SignatureVersion": {"1.0"}, "TemplateCode": {"SMS_71390007"}, "TemplateParam": {`{"customer":"test"}`},
		"Timestamp": {"2017-07-12T02:42:19Z"}, "Version": {"2017-05-25"},
	}
	const query = "AccessKeyId=testId&Action=SendSms&Format=XML&OutId=123&PhoneNumbers=15300000001&RegionId=cn-hangzhou&SignName=%E9%98%BF%E9%87%8C%E4%BA%91%E7%9F%AD%E4%BF%A1%E6%B5%8B%E8%AF%95%E4%B8%93%E7%94%A8&SignatureMethod=HMAC-SHA1&SignatureNonce=45e25e9b-0a6f-4070-8c85-2956eda1b466&SignatureVersion=1.0&TemplateCode=SMS_71390007&TemplateParam=%7B%22customer%22%3A%22test%22%7D&Timestamp=2017-07-12T02%3A42%3A19Z&Version=2017-05-25"
	if got := CanonicalQuery(p); got != query {
		t.Fatalf("CanonicalQuery =\n%s\nwant\n%s", got, query)
	}
	p.Set("Signature", "ignored")
	if got := Sign("GET", p, "testSecret"); got != "zJDF+Lrzhj/ThnlvIToysFRq6t4=" {
		t.Fatalf("Sign = %s", got)
	}
}

func TestPercentEncode(t *testing.T) {
	tests := []struct{ in, want string }{
		{"abcXYZ019-_.~", "abcXYZ019-_.~"},
		{"a b", "a%20b"},
		{"*", "%2A"},
		{"+", "%2B"},
		{"/", "%2F"},
		{"签名", "%E7%AD%BE%E5%90%8D"},
		{`{"a":"1"}`, "%7B%22a%22%3A%221%22%7D"},
	}
	for _, tc := range tests {
		if got := PercentEncode(tc.in); got != tc.want {
			t.Errorf("PercentEncode(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

var testKey = Key{AccessKeyID: "LTAItestkey000000001", AccessKeySecret: "testsecret0000000000000000000a", SignName: "实名网关"}

type fixture struct {
	t      *testing.T
	sim    *Sim
	srv    *httptest.Server
	clock  *clock
	faults *fault.Set
	nonce  int
}

func newFixture(t *testing.T, opts Options) *fixture {
	f := &fixture{t: t, clock: &clock{t: time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)}, faults: &fault.Set{}}
	sim, err := New(simenv.Env{Logger: slog.New(slog.DiscardHandler), Now: f.clock.Now, PublicURL: "http://sandbox.test",
		Citizens: citizens.Default(), Faults: f.faults}, []Key{testKey}, opts)
	if err != nil {
		t.Fatal(err)
	}
	f.sim = sim
	mux := http.NewServeMux()
	mux.Handle("/"+Host+"/", http.StripPrefix("/"+Host, sim.Routes()[Host]))
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// params are a SendSms call's parameters with fresh common parameters.
func (f *fixture) params(phone, tpl, param string) url.Values {
	f.nonce++
	return url.Values{
		"AccessKeyId": {testKey.AccessKeyID}, "Action": {"SendSms"}, "Format": {"JSON"}, "Version": {APIVersion},
		"SignatureMethod": {"HMAC-SHA1"}, "SignatureVersion": {"1.0"}, "SignatureNonce": {"nonce-" + strconv.Itoa(f.nonce)},
		"Timestamp": {f.clock.Now().UTC().Format("2006-01-02T15:04:05Z")}, "RegionId": {"cn-hangzhou"},
		"PhoneNumbers": {phone}, "SignName": {testKey.SignName}, "TemplateCode": {tpl}, "TemplateParam": {param},
	}
}

func signed(method string, p url.Values, secret string) url.Values {
	p.Del("Signature")
	p.Set("Signature", Sign(method, p, secret))
	return p
}

// call sends a GET (or a form POST) and decodes the JSON answer.
func (f *fixture) call(method string, p url.Values) (int, map[string]string) {
	f.t.Helper()
	var req *http.Request
	if method == http.MethodPost {
		req, _ = http.NewRequest(method, f.srv.URL+"/"+Host+"/", strings.NewReader(p.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req, _ = http.NewRequest(method, f.srv.URL+"/"+Host+"/?"+p.Encode(), nil)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]string
	if err := json.Unmarshal(body, &m); err != nil {
		f.t.Fatalf("answer is not JSON: %q", body)
	}
	return resp.StatusCode, m
}

const codeParam = `{"code":"123456","minutes":"5"}`

func TestSendSms(t *testing.T) {
	f := newFixture(t, Options{})
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		f.clock.Add(2 * time.Minute)
		status, m := f.call(method, signed(method, f.params("13800001001", "SMS_SHIMING_CODE", codeParam), testKey.AccessKeySecret))
		if status != 200 || m["Code"] != "OK" || m["Message"] != "OK" || !strings.HasSuffix(m["BizId"], "^0") || len(m["RequestId"]) != 36 {
			t.Fatalf("%s: HTTP %d %v", method, status, m)
		}
	}
	msgs := f.sim.Messages(context.Background(), "13800001001")
	if len(msgs) != 2 || msgs[0].Code != "123456" || msgs[0].Text != "【实名网关】您的验证码为123456，5分钟内有效，请勿泄露。" ||
		!msgs[0].Sent.After(msgs[1].Sent) || msgs[0].TemplateCode != "SMS_SHIMING_CODE" {
		t.Fatalf("inbox = %+v", msgs)
	}
	if other := f.sim.Messages(context.Background(), "13800001002"); len(other) != 0 {
		t.Fatalf("another phone got %+v", other)
	}
	t.Run("several numbers and a +86 prefix", func(t *testing.T) {
		p := f.params("+8613800001003,13800001004", "SMS_SHIMING_PHONE_CHANGED", `{"phone":"138****1003"}`)
		if status, m := f.call("GET", signed("GET", p, testKey.AccessKeySecret)); status != 200 || m["Code"] != "OK" {
			t.Fatalf("HTTP %d %v", status, m)
		}
		if len(f.sim.Messages(context.Background(), "13800001003")) != 1 || len(f.sim.Messages(context.Background(), "13800001004")) != 1 {
			t.Fatal("not delivered to both numbers")
		}
	})
	t.Run("XML format", func(t *testing.T) {
		p := f.params("13800001005", "SMS_SHIMING_CODE", codeParam)
		p.Set("Format", "XML")
		resp, err := f.srv.Client().Get(f.srv.URL + "/" + Host + "/?" + signed("GET", p, testKey.AccessKeySecret).Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var x struct {
			XMLName xml.Name `xml:"SendSmsResponse"`
			Code    string
			BizId   string
		}
		if err := xml.NewDecoder(resp.Body).Decode(&x); err != nil || x.Code != "OK" || x.BizId == "" {
			t.Fatalf("XML answer: %+v %v", x, err)
		}
	})
}

func TestSendSmsErrors(t *testing.T) {
	f := newFixture(t, Options{Limits: Limits{PerMinute: -1, PerHour: -1, PerDay: -1}})
	good := func() url.Values { return f.params("13800001001", "SMS_SHIMING_CODE", codeParam) }
	edit := func(k, v string) url.Values {
		p := good()
		if v == "" {
			p.Del(k)
		} else {
			p.Set(k, v)
		}
		return signed("GET", p, testKey.AccessKeySecret)
	}
	replayed := signed("GET", good(), testKey.AccessKeySecret)
	if status, m := f.call("GET", replayed); status != 200 || m["Code"] != "OK" {
		t.Fatalf("first call: HTTP %d %v", status, m)
	}
	badSig := signed("GET", good(), testKey.AccessKeySecret)
	badSig.Set("PhoneNumbers", "13800001002")
	tests := []struct {
		name   string
		method string
		p      url.Values
		status int
		code   string
	}{
		{"missing AccessKeyId", "GET", edit("AccessKeyId", ""), 400, "MissingAccessKeyId"},
		{"missing Signature", "GET", func() url.Values { p := good(); return p }(), 400, "MissingSignature"},
		{"missing SignatureNonce", "GET", edit("SignatureNonce", ""), 400, "MissingSignatureNonce"},
		{"unknown key", "GET", edit("AccessKeyId", "LTAInosuchkey"), 404, "InvalidAccessKeyId.NotFound"},
		{"other signature method", "GET", edit("SignatureMethod", "HMAC-SHA256"), 400, "InvalidSignatureMethod"},
		{"other signature version", "GET", edit("SignatureVersion", "2.0"), 400, "InvalidSignatureVersion"},
		{"timestamp format", "GET", edit("Timestamp", "2026-03-01 02:00:00"), 400, "InvalidTimeStamp.Format"},
		{"timestamp too old", "GET", edit("Timestamp", "2026-03-01T01:44:59Z"), 400, "InvalidTimeStamp.Expired"},
		{"timestamp too new", "GET", edit("Timestamp", "2026-03-01T02:15:01Z"), 400, "InvalidTimeStamp.Expired"},
		{"tampered parameter", "GET", badSig, 400, "SignatureDoesNotMatch"},
		{"wrong secret", "GET", signed("GET", good(), "not-the-secret"), 400, "SignatureDoesNotMatch"},
		{"signed as POST, sent as GET", "GET", signed("POST", good(), testKey.AccessKeySecret), 400, "SignatureDoesNotMatch"},
		{"replayed nonce", "GET", replayed, 400, "SignatureNonceUsed"},
		{"other version", "GET", edit("Version", "2018-05-01"), 400, "InvalidVersion"},
		{"other action", "GET", edit("Action", "QuerySendDetails"), 404, "InvalidAction.NotFound"},
		{"missing phone", "GET", edit("PhoneNumbers", ""), 400, "MissingPhoneNumbers"},
		{"illegal phone", "GET", edit("PhoneNumbers", "12345"), 200, "isv.MOBILE_NUMBER_ILLEGAL"},
		{"one illegal phone", "GET", edit("PhoneNumbers", "13800001001,02088888888"), 200, "isv.MOBILE_NUMBER_ILLEGAL"},
		{"too many phones", "GET", edit("PhoneNumbers", strings.Repeat("13800001001,", 1000)+"13800001001"), 200, "isv.MOBILE_COUNT_OVER_LIMIT"},
		{"other sign name", "GET", edit("SignName", "别人的签名"), 200, "isv.SMS_SIGNATURE_ILLEGAL"},
		{"unknown template", "GET", edit("TemplateCode", "SMS_0000"), 200, "isv.SMS_TEMPLATE_ILLEGAL"},
		{"param not JSON", "GET", edit("TemplateParam", "code=1"), 200, "isv.INVALID_JSON_PARAM"},
		{"param not strings", "GET", edit("TemplateParam", `{"code":123456,"minutes":"5"}`), 200, "isv.INVALID_JSON_PARAM"},
		{"param missing a variable", "GET", edit("TemplateParam", `{"code":"123456"}`), 200, "isv.TEMPLATE_MISSING_PARAMETERS"},
		{"no params at all", "GET", edit("TemplateParam", ""), 200, "isv.TEMPLATE_MISSING_PARAMETERS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, m := f.call(tc.method, tc.p)
			if status != tc.status || m["Code"] != tc.code || m["RequestId"] == "" || m["Message"] == "" {
				t.Fatalf("HTTP %d %v, want %d %s", status, m, tc.status, tc.code)
			}
			if status != 200 && (m["HostId"] != Host || m["Recommend"] == "") {
				t.Fatalf("common error shape: %v", m)
			}
		})
	}
	if n := len(f.sim.Messages(context.Background(), "13800001002")); n != 0 {
		t.Fatalf("a refused call delivered %d messages", n)
	}
}

func TestFlowControl(t *testing.T) {
	send := func(f *fixture, phone, tpl, param string) map[string]string {
		_, m := f.call("GET", signed("GET", f.params(phone, tpl, param), testKey.AccessKeySecret))
		return m
	}
	t.Run("defaults 1/min 5/hour 10/day", func(t *testing.T) {
		f := newFixture(t, Options{})
		if m := send(f, "13800001001", "SMS_SHIMING_CODE", codeParam); m["Code"] != "OK" {
			t.Fatalf("first: %v", m)
		}
		if m := send(f, "13800001001", "SMS_SHIMING_CODE", codeParam); m["Code"] != "isv.BUSINESS_LIMIT_CONTROL" || m["Message"] != "触发分钟级流控Permits:1" {
			t.Fatalf("second in a minute: %v", m)
		}
		if m := send(f, "13800001002", "SMS_SHIMING_CODE", codeParam); m["Code"] != "OK" {
			t.Fatalf("another phone: %v", m)
		}
		for i := 0; i < 4; i++ {
			f.clock.Add(61 * time.Second)
			if m := send(f, "13800001001", "SMS_SHIMING_CODE", codeParam); m["Code"] != "OK" {
				t.Fatalf("send %d: %v", i+2, m)
			}
		}
		f.clock.Add(61 * time.Second)
		if m := send(f, "13800001001", "SMS_SHIMING_CODE", codeParam); m["Message"] != "触发小时级流控Permits:5" {
			t.Fatalf("sixth in an hour: %v", m)
		}
		for i := 0; i < 5; i++ {
			f.clock.Add(61 * time.Minute)
			if m := send(f, "13800001001", "SMS_SHIMING_CODE", codeParam); m["Code"] != "OK" {
				t.Fatalf("hour %d: %v", i+1, m)
			}
		}
		f.clock.Add(61 * time.Minute)
		if m := send(f, "13800001001", "SMS_SHIMING_CODE", codeParam); m["Message"] != "触发天级流控Permits:10" {
			t.Fatalf("eleventh in a day: %v", m)
		}
		if m := send(f, "13800001001", "SMS_SHIMING_PHONE_CHANGED", `{"phone":"1"}`); m["Code"] != "OK" {
			t.Fatalf("notices have their own limit: %v", m)
		}
	})
	t.Run("configured", func(t *testing.T) {
		f := newFixture(t, Options{Limits: Limits{PerMinute: 3, PerHour: -1, PerDay: -1, NoticePerDay: 1}})
		for i := 0; i < 3; i++ {
			if m := send(f, "13800001001", "SMS_SHIMING_CODE", codeParam); m["Code"] != "OK" {
				t.Fatalf("send %d: %v", i, m)
			}
		}
		if m := send(f, "13800001001", "SMS_SHIMING_CODE", codeParam); m["Message"] != "触发分钟级流控Permits:3" {
			t.Fatalf("fourth: %v", m)
		}
		send(f, "13800001001", "SMS_SHIMING_PHONE_CHANGED", `{"phone":"1"}`)
		if m := send(f, "13800001001", "SMS_SHIMING_PHONE_CHANGED", `{"phone":"1"}`); m["Message"] != "触发天级流控Permits:1" {
			t.Fatalf("second notice: %v", m)
		}
	})
}

func TestSMSFaults(t *testing.T) {
	f := newFixture(t, Options{})
	f.faults.Add(fault.Rule{Vendor: Vendor, Code: "isv.BUSINESS_LIMIT_CONTROL", Count: 1})
	if status, m := f.call("GET", signed("GET", f.params("13800001001", "SMS_SHIMING_CODE", codeParam), testKey.AccessKeySecret)); status != 200 || m["Code"] != "isv.BUSINESS_LIMIT_CONTROL" {
		t.Fatalf("injected business error: HTTP %d %v", status, m)
	}
	f.faults.Add(fault.Rule{Vendor: Vendor, Code: "Throttling.User", Count: 1})
	if status, m := f.call("GET", signed("GET", f.params("13800001001", "SMS_SHIMING_CODE", codeParam), testKey.AccessKeySecret)); status != 400 || m["Code"] != "Throttling.User" {
		t.Fatalf("injected gateway error: HTTP %d %v", status, m)
	}
	if status, m := f.call("GET", signed("GET", f.params("13800001001", "SMS_SHIMING_CODE", codeParam), testKey.AccessKeySecret)); status != 200 || m["Code"] != "OK" {
		t.Fatalf("after the faults: HTTP %d %v", status, m)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	env := simenv.Env{Now: time.Now, Citizens: citizens.Default()}
	if _, err := New(env, []Key{{AccessKeyID: "a"}, testKey, testKey}, Options{}); err == nil ||
		!strings.Contains(err.Error(), "key 0") || !strings.Contains(err.Error(), "duplicate") {
		t.Fatalf("New = %v", err)
	}
	if _, err := New(env, nil, Options{Templates: []Template{{Code: "X", Kind: "ad"}}}); err == nil {
		t.Fatal("accepted a template without a valid kind")
	}
	k, err := GenerateKey("签名")
	if err != nil || !strings.HasPrefix(k.AccessKeyID, "LTAI") || len(k.AccessKeySecret) != 30 || k.SignName != "签名" {
		t.Fatalf("GenerateKey = %+v %v", k, err)
	}
}
