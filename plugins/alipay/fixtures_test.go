package alipay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk"
)

var update = flag.Bool("update", false, "record testdata/ again from the sandbox")

// The recorded fixtures live in testdata/: gateway/*.json are gateway
// answers exactly as the sandbox sent them (signed with
// alipay_public_key.pem's private half), callback/*.json the queries of
// the phone's redirects, manifest.json the app they were recorded for.
const (
	fixtureDir    = "testdata"
	manifestFile  = "manifest.json"
	publicKeyFile = "alipay_public_key.pem"
	appKeyFile    = "app_private_key.pem"
)

type manifest struct {
	AppID       string `json:"app_id"`
	CallbackURL string `json:"callback_url"`
	State       string `json:"state"`
	CertifyID   string `json:"certify_id"`
}

// recorder is a transport that keeps the last answer per method.
type recorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	last map[string][]byte
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(req.Body)
	req.Body = io.NopCloser(bytes.NewReader(body))
	form, _ := url.ParseQuery(string(body))
	resp, err := r.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	r.mu.Lock()
	r.last[form.Get("method")] = b
	r.mu.Unlock()
	return resp, nil
}

func (r *recorder) take(t *testing.T, method string) []byte {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.last[method]
	if !ok {
		t.Fatalf("nothing recorded for %s", method)
	}
	delete(r.last, method)
	return b
}

// recording returns an in-process provider for app i (or the config
// change) whose answers rec keeps.
func (v *vendor) recording(t *testing.T, i int, change func(map[string]string)) (*Provider, *recorder) {
	p := newProvider(quiet(), v.Clock.Now)
	if err := p.Configure(context.Background(), v.configWith(i, change)); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{base: http.DefaultTransport, last: map[string][]byte{}}
	p.cur.Load().http.Transport = rec
	return p, rec
}

func writeFixture(t *testing.T, name string, b []byte) {
	t.Helper()
	path := filepath.Join(fixtureDir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, _ := json.MarshalIndent(v, "", "  ")
	writeFixture(t, name, append(b, '\n'))
}

// TestRecordFixtures drives the sandbox through the provider and the
// phone and saves what Alipay answered. Run with -update.
func TestRecordFixtures(t *testing.T) {
	if !*update {
		t.Skip("records testdata/ with -update")
	}
	v := newVendor(t)
	ctx := context.Background()
	writeFixture(t, publicKeyFile, []byte(v.Sandbox.AlipayPublicKeyPEM()))
	writeFixture(t, appKeyFile, []byte(v.apps[0].AppPrivateKeyPEM))
	m := manifest{AppID: v.apps[0].AppID, CallbackURL: "https://gateway.example/alipay/callback", State: "st-recorded"}

	// Login with the app that holds the real-name permission.
	p, rec := v.recording(t, 0, nil)
	ss, err := p.BeginScan(ctx, sdk.BeginScanRequest{CallbackURL: m.CallbackURL, State: m.State})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Scan(ctx, ss.QRContent); err != nil {
		t.Fatal(err)
	}
	q, err := v.Approve(ctx, ss.QRContent)
	if err != nil {
		t.Fatal(err)
	}
	writeJSON(t, "callback/confirm.json", q)
	if _, err := p.ExchangeCode(ctx, ss.UUID, q["auth_code"]); err != nil {
		t.Fatal(err)
	}
	writeFixture(t, "gateway/oauth_token_ok.json", rec.take(t, methodOAuthToken))
	writeFixture(t, "gateway/user_info_real_name.json", rec.take(t, methodUserInfo))
	_, _ = p.ExchangeCode(ctx, ss.UUID, q["auth_code"])
	writeFixture(t, "gateway/oauth_token_code_invalid.json", rec.take(t, methodOAuthToken))

	ss2, _ := p.BeginScan(ctx, sdk.BeginScanRequest{CallbackURL: m.CallbackURL, State: m.State + "-2"})
	_ = v.Scan(ctx, ss2.QRContent)
	q2, err := v.Cancel(ctx, ss2.QRContent)
	if err != nil {
		t.Fatal(err)
	}
	q2["state"] = m.State // the replay's handle carries m.State
	writeJSON(t, "callback/cancel.json", q2)

	var raw json.RawMessage
	_ = p.call(ctx, p.cur.Load(), methodUserInfo, map[string]string{"auth_token": "authusrB0000"}, nil, &raw)
	writeFixture(t, "gateway/user_info_invalid_token.json", rec.take(t, methodUserInfo))
	for code, file := range map[string]string{
		"aop.auth-token-time-out": "gateway/user_info_token_time_out.json",
		"40005":                   "gateway/user_info_call_limited.json",
	} {
		v.inject(code)
		_ = p.call(ctx, p.cur.Load(), methodUserInfo, map[string]string{"auth_token": "authusrB0000"}, nil, &raw)
		writeFixture(t, file, rec.take(t, methodUserInfo))
	}

	// Login with an app without the real-name permission.
	p1, rec1 := v.recording(t, 1, nil)
	ss3, _ := p1.BeginScan(ctx, sdk.BeginScanRequest{CallbackURL: m.CallbackURL, State: "basic"})
	_ = v.Scan(ctx, ss3.QRContent)
	q3, _ := v.Approve(ctx, ss3.QRContent)
	if _, err := p1.ExchangeCode(ctx, ss3.UUID, q3["auth_code"]); err != nil {
		t.Fatal(err)
	}
	writeFixture(t, "gateway/oauth_token_basic.json", rec1.take(t, methodOAuthToken))
	writeFixture(t, "gateway/user_info_basic.json", rec1.take(t, methodUserInfo))

	// Face checks.
	face := func(key, file string) {
		c, _ := v.Citizens.ByKey(key)
		fs, err := p.BeginFace(ctx, sdk.FaceRequest{Name: c.Name, IDNumber: c.IDNumber, ReturnURL: m.CallbackURL})
		if err != nil {
			t.Fatal(err)
		}
		rec.take(t, methodCertifyInit)
		if _, err := v.Act(ctx, fs.QRContent, "pass", c.IDNumber); err != nil {
			t.Fatal(err)
		}
		if _, err := p.QueryFace(ctx, fs.CertifyID); err != nil {
			t.Fatal(err)
		}
		writeFixture(t, file, rec.take(t, methodCertifyQuery))
	}
	c001, _ := v.Citizens.ByKey("c001")
	fs, err := p.BeginFace(ctx, sdk.FaceRequest{Name: c001.Name, IDNumber: c001.IDNumber, ReturnURL: m.CallbackURL})
	if err != nil {
		t.Fatal(err)
	}
	writeFixture(t, "gateway/certify_init_ok.json", rec.take(t, methodCertifyInit))
	if _, err := p.QueryFace(ctx, fs.CertifyID); err != nil {
		t.Fatal(err)
	}
	writeFixture(t, "gateway/certify_query_pending.json", rec.take(t, methodCertifyQuery))
	h, _ := p.cur.Load().openHandle(handleFace, fs.CertifyID)
	m.CertifyID = h.ID
	face("c001", "gateway/certify_query_passed.json")
	face("c031", "gateway/certify_query_face_mismatch.json")
	face("c033", "gateway/certify_query_liveness.json")

	c035, _ := v.Citizens.ByKey("c035")
	_, _ = p.BeginFace(ctx, sdk.FaceRequest{Name: c035.Name, IDNumber: c035.IDNumber, ReturnURL: m.CallbackURL})
	writeFixture(t, "gateway/certify_init_name_mismatch.json", rec.take(t, methodCertifyInit))
	bad := initBiz{OuterOrderNo: "0123456789abcdef0123456789abcdef", BizCode: "FACE",
		IdentityParam:  identityParam{IdentityType: "CERT_INFO", CertType: "IDENTITY_CARD", CertName: "张伟", CertNo: "110105194912310021"},
		MerchantConfig: merchantConfig{ReturnURL: m.CallbackURL}}
	_ = p.call(ctx, p.cur.Load(), methodCertifyInit, nil, bad, &raw)
	writeFixture(t, "gateway/certify_init_invalid_cert_no.json", rec.take(t, methodCertifyInit))
	_ = p.call(ctx, p.cur.Load(), methodCertifyQuery, nil, certifyBiz{CertifyID: "0000deadbeef"}, &raw)
	writeFixture(t, "gateway/certify_query_not_exist.json", rec.take(t, methodCertifyQuery))

	good := bad
	good.IdentityParam.CertNo = c001.IDNumber
	_ = p.call(ctx, p.cur.Load(), methodCertifyInit, nil, good, &raw)
	rec.take(t, methodCertifyInit)
	dup := good
	dup.IdentityParam.CertName, dup.IdentityParam.CertNo = c035.RegistryName, c035.IDNumber
	_ = p.call(ctx, p.cur.Load(), methodCertifyInit, nil, dup, &raw)
	writeFixture(t, "gateway/certify_init_order_duplicate.json", rec.take(t, methodCertifyInit))
	badCode := good
	badCode.BizCode = "NOPE"
	_ = p.call(ctx, p.cur.Load(), methodCertifyInit, nil, badCode, &raw)
	writeFixture(t, "gateway/certify_init_invalid_parameter.json", rec.take(t, methodCertifyInit))

	// A login that granted auth_base only: no user info for it.
	base := v.URL + "/openauth.alipay.com/oauth2/publicAppAuthorize.htm?app_id=" + m.AppID +
		"&scope=auth_base&redirect_uri=" + url.QueryEscape(m.CallbackURL) + "&state=base"
	_ = v.Scan(ctx, base)
	qb, err := v.Approve(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	var tok tokenNode
	if err := p.call(ctx, p.cur.Load(), methodOAuthToken, map[string]string{"grant_type": "authorization_code", "code": qb["auth_code"]}, nil, &tok); err != nil {
		t.Fatal(err)
	}
	rec.take(t, methodOAuthToken)
	_ = p.call(ctx, p.cur.Load(), methodUserInfo, map[string]string{"auth_token": tok.AccessToken}, nil, &raw)
	writeFixture(t, "gateway/user_info_auth_base.json", rec.take(t, methodUserInfo))

	// A clock an hour off: the gateway refuses the timestamp.
	skewed := newProvider(quiet(), func() time.Time { return v.Clock.Now().Add(time.Hour) })
	_ = skewed.Configure(ctx, v.config(0))
	recs := &recorder{base: http.DefaultTransport, last: map[string][]byte{}}
	skewed.cur.Load().http.Transport = recs
	_ = skewed.call(ctx, skewed.cur.Load(), methodCertifyQuery, nil, certifyBiz{CertifyID: m.CertifyID}, &raw)
	writeFixture(t, "gateway/invalid_timestamp.json", recs.take(t, methodCertifyQuery))

	// A request without its sign.
	unsigned, _ := signedValues(p.cur.Load().config, v.Clock.Now(), methodCertifyQuery, nil, certifyBiz{CertifyID: m.CertifyID})
	unsigned.Del("sign")
	resp, err := http.PostForm(v.URL+"/openapi.alipay.com/gateway.do", unsigned)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	writeFixture(t, "gateway/missing_signature.json", b)

	// Gateway-wide refusals, injected by the sandbox's fault API.
	for code, file := range map[string]string{
		"40005":                     "gateway/call_limited.json",
		"20000":                     "gateway/unavailable.json",
		"BUSINESS_LIMIT_CONTROL":    "gateway/business_limit_control.json",
		"40006":                     "gateway/isv_permissions.json",
		"OPEN_CERTIFY_BILL_EXPIRED": "gateway/certify_bill_expired.json",
		"garbage":                   "gateway/garbage.json",
	} {
		v.inject(code)
		_ = p.call(ctx, p.cur.Load(), methodCertifyInit, nil, bad, &raw)
		writeFixture(t, file, rec.take(t, methodCertifyInit))
	}

	// The wrong private key: the gateway's signed isv.invalid-signature.
	other := v.apps[1].AppPrivateKeyPEM
	pw, recw := v.recording(t, 0, func(m map[string]string) { m["app_private_key"] = other })
	_ = pw.call(ctx, pw.cur.Load(), methodCertifyQuery, nil, certifyBiz{CertifyID: "0000deadbeef"}, &raw)
	writeFixture(t, "gateway/invalid_signature.json", recw.take(t, methodCertifyQuery))
	// An app the gateway does not know: answered unsigned.
	pu, recu := v.recording(t, 0, func(m map[string]string) { m["app_id"] = "2021000000000001" })
	_ = pu.call(ctx, pu.cur.Load(), methodCertifyQuery, nil, certifyBiz{CertifyID: "0000deadbeef"}, &raw)
	writeFixture(t, "gateway/unknown_app.json", recu.take(t, methodCertifyQuery))

	writeJSON(t, manifestFile, m)
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatalf("fixture %s: %v (record with go test -run TestRecordFixtures -update)", name, err)
	}
	return b
}

func readManifest(t *testing.T) manifest {
	t.Helper()
	var m manifest
	if err := json.Unmarshal(readFixture(t, manifestFile), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// replay is a gateway answering each method with a recorded body.
type replay struct {
	t       *testing.T
	mu      sync.Mutex
	answers map[string]string // method -> fixture file
	calls   []string
}

func (r *replay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	_ = req.ParseForm()
	method := req.Form.Get("method")
	r.mu.Lock()
	r.calls = append(r.calls, method)
	file, ok := r.answers[method]
	r.mu.Unlock()
	if !ok {
		http.Error(w, "unexpected method "+method, http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	_, _ = w.Write(readFixture(r.t, file))
}

// replayProvider is a provider configured for the recorded app, talking to
// a gateway that answers with the given fixtures.
func replayProvider(t *testing.T, now func() time.Time, answers map[string]string) (*Provider, *replay) {
	t.Helper()
	m := readManifest(t)
	r := &replay{t: t, answers: answers}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	cfg, _ := json.Marshal(map[string]string{
		"app_id":            m.AppID,
		"app_private_key":   string(readFixture(t, appKeyFile)),
		"alipay_public_key": string(readFixture(t, publicKeyFile)),
		"handle_key":        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"gateway_url":       srv.URL + "/gateway.do",
	})
	p := newProvider(quiet(), now)
	if err := p.Configure(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	return p, r
}

func wantErr(t *testing.T, err error, kind sdk.Kind, vendorCode string) {
	t.Helper()
	var e *sdk.Error
	if !errors.As(err, &e) || e.Kind != kind || e.VendorCode != vendorCode {
		t.Fatalf("err = %v, want kind %v vendor code %q", err, kind, vendorCode)
	}
}

// TestRecordedExchange replays recorded token and user-info answers.
func TestRecordedExchange(t *testing.T) {
	m := readManifest(t)
	cases := []struct {
		name     string
		token    string
		info     string
		kind     sdk.Kind
		vendor   string
		realName bool
	}{
		{"real name", "oauth_token_ok.json", "user_info_real_name.json", 0, "", true},
		{"no real-name permission", "oauth_token_basic.json", "user_info_basic.json", 0, "", false},
		{"user info of another user", "oauth_token_ok.json", "user_info_basic.json", sdk.VendorUnavailable, "user_mismatch", false},
		{"code used or expired", "oauth_token_code_invalid.json", "", sdk.CodeReused, "isv.code-invalid", false},
		{"invalid token", "oauth_token_ok.json", "user_info_invalid_token.json", sdk.CodeInvalid, "aop.invalid-auth-token", false},
		{"token timed out", "oauth_token_ok.json", "user_info_token_time_out.json", sdk.Expired, "aop.auth-token-time-out", false},
		{"call limited", "oauth_token_ok.json", "user_info_call_limited.json", sdk.RateLimited, "isv.app-call-limited", false},
		{"auth_base granted only", "oauth_token_ok.json", "user_info_auth_base.json", sdk.InvalidRequest, "isv.insufficient-user-permissions", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			answers := map[string]string{methodOAuthToken: "gateway/" + tc.token}
			if tc.info != "" {
				answers[methodUserInfo] = "gateway/" + tc.info
			}
			p, _ := replayProvider(t, time.Now, answers)
			ss, err := p.BeginScan(context.Background(), sdk.BeginScanRequest{CallbackURL: m.CallbackURL, State: m.State})
			if err != nil {
				t.Fatal(err)
			}
			id, err := p.ExchangeCode(context.Background(), ss.UUID, "recorded-code")
			if tc.kind != 0 {
				wantErr(t, err, tc.kind, tc.vendor)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id.Subject == "" || id.Subject != id.SubjectIDs["user_id"] || id.SubjectIDs["open_id"] == "" || id.DisplayName == "" {
				t.Errorf("identity %+v: want user_id as subject and both ids kept", id)
			}
			if tc.realName != (id.Name != "" && id.IDNumber != "" && id.Level == sdk.LevelNameID && id.Phone != "") {
				t.Errorf("identity %+v: real name %v", id, tc.realName)
			}
		})
	}
}

// TestRecordedFace replays recorded certify answers.
func TestRecordedFace(t *testing.T) {
	m := readManifest(t)
	req := sdk.FaceRequest{Name: "张伟", IDNumber: "11010519491231002X", ReturnURL: m.CallbackURL}
	t.Run("initialize", func(t *testing.T) {
		cases := []struct {
			file   string
			kind   sdk.Kind
			vendor string
		}{
			{"certify_init_ok.json", 0, ""},
			{"certify_init_name_mismatch.json", sdk.NameIDMismatch, "NAME_CERT_NO_NOT_MATCH"},
			{"certify_init_invalid_cert_no.json", sdk.InvalidRequest, "INVALID_CERT_NO"},
			{"certify_init_order_duplicate.json", sdk.Internal, "OUTER_ORDER_NO_DUPLICATE"},
			{"certify_init_invalid_parameter.json", sdk.InvalidRequest, "isv.invalid-parameter"},
			{"call_limited.json", sdk.RateLimited, "isv.app-call-limited"},
			{"business_limit_control.json", sdk.RateLimited, "BUSINESS_LIMIT_CONTROL"},
			{"unavailable.json", sdk.VendorUnavailable, "isp.unknow-error"},
			{"isv_permissions.json", sdk.InvalidConfig, "isv.insufficient-isv-permissions"},
			{"certify_bill_expired.json", sdk.Expired, "OPEN_CERTIFY_BILL_EXPIRED"},
			{"garbage.json", sdk.VendorUnavailable, "200"},
		}
		for _, tc := range cases {
			t.Run(tc.file, func(t *testing.T) {
				p, _ := replayProvider(t, time.Now, map[string]string{methodCertifyInit: "gateway/" + tc.file})
				fs, err := p.BeginFace(context.Background(), req)
				if tc.kind != 0 {
					wantErr(t, err, tc.kind, tc.vendor)
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				u, err := url.Parse(fs.QRContent)
				if err != nil || u.Query().Get("method") != methodCertify || !strings.Contains(u.Query().Get("biz_content"), `"certify_id":"`) {
					t.Fatalf("QR content %q is not a certify URL", fs.QRContent)
				}
			})
		}
	})
	t.Run("query", func(t *testing.T) {
		cases := []struct {
			file   string
			late   bool
			result sdk.FaceResult
			reason sdk.Kind
			kind   sdk.Kind
			vendor string
		}{
			{file: "certify_query_pending.json", result: sdk.FacePending},
			{file: "certify_query_pending.json", late: true, result: sdk.FaceFailed, reason: sdk.Expired},
			{file: "certify_query_passed.json", result: sdk.FacePassed},
			{file: "certify_query_face_mismatch.json", result: sdk.FaceFailed, reason: sdk.FaceMismatch},
			{file: "certify_query_liveness.json", result: sdk.FaceFailed, reason: sdk.LivenessFailed},
			{file: "certify_query_not_exist.json", kind: sdk.InvalidRequest, vendor: "OPEN_CERTIFY_BILL_NOT_EXIST"},
			{file: "invalid_signature.json", kind: sdk.InvalidConfig, vendor: "isv.invalid-signature"},
			{file: "unknown_app.json", kind: sdk.VendorUnavailable, vendor: vendorCodeBad},
			{file: "invalid_timestamp.json", kind: sdk.Internal, vendor: "isv.invalid-timestamp"},
			{file: "missing_signature.json", kind: sdk.Internal, vendor: "isv.missing-signature"},
		}
		for _, tc := range cases {
			t.Run(tc.file, func(t *testing.T) {
				now := time.Now
				if tc.late {
					now = func() time.Time { return time.Now().Add(faceTTL + time.Minute) }
				}
				p, _ := replayProvider(t, now, map[string]string{methodCertifyQuery: "gateway/" + tc.file})
				id, err := p.cur.Load().sealHandle(handleFace, payload{ID: m.CertifyID, Exp: time.Now().Add(faceTTL).Unix()})
				if err != nil {
					t.Fatal(err)
				}
				st, err := p.QueryFace(context.Background(), id)
				if tc.kind != 0 {
					wantErr(t, err, tc.kind, tc.vendor)
					return
				}
				if err != nil || st.Result != tc.result || st.Reason != tc.reason || st.Reference != m.CertifyID {
					t.Fatalf("QueryFace = %+v, %v; want result %d reason %v", st, err, tc.result, tc.reason)
				}
			})
		}
	})
}

// TestRecordedCallbacks replays the phone's recorded redirects.
func TestRecordedCallbacks(t *testing.T) {
	m := readManifest(t)
	p, _ := replayProvider(t, time.Now, nil)
	ss, err := p.BeginScan(context.Background(), sdk.BeginScanRequest{CallbackURL: m.CallbackURL, State: m.State})
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) map[string]string {
		var q map[string]string
		if err := json.Unmarshal(readFixture(t, name), &q); err != nil {
			t.Fatal(err)
		}
		return q
	}
	confirm, cancel := read("callback/confirm.json"), read("callback/cancel.json")
	cases := []struct {
		name  string
		query map[string]string
		state sdk.ScanState
		field string
	}{
		{"confirmed", confirm, sdk.ScanConfirmed, ""},
		{"cancelled", cancel, sdk.ScanCancelled, ""},
		{"another app", with(confirm, "app_id", "2021000000000009"), 0, "app_id"},
		{"another session", with(confirm, "state", "other"), 0, "state"},
		{"no code", with(confirm, "auth_code", ""), sdk.ScanCancelled, ""},
		{"malformed code", with(confirm, "auth_code", "a b"), 0, "auth_code"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, err := p.ScanCallback(context.Background(), ss.UUID, tc.query)
			if tc.field != "" {
				var e *sdk.Error
				if !errors.As(err, &e) || e.Kind != sdk.InvalidRequest || len(e.Fields) != 1 || e.Fields[0] != tc.field {
					t.Fatalf("ScanCallback = %+v, %v; want InvalidRequest naming %s", st, err, tc.field)
				}
				return
			}
			if err != nil || st.State != tc.state || (tc.state == sdk.ScanConfirmed) != (st.Code == confirm["auth_code"]) {
				t.Fatalf("ScanCallback = %+v, %v; want %v", st, err, tc.state)
			}
		})
	}
}

func with(q map[string]string, k, v string) map[string]string {
	out := map[string]string{}
	for a, b := range q {
		out[a] = b
	}
	out[k] = v
	return out
}
