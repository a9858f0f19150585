package alipay

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	smartwalle "github.com/smartwalle/alipay/v3"

	"github.com/shiming-id/shiming/plugins/sdk"
)

// TestSignatureBaseGatewayExample reproduces the string the real gateway
// quoted as the one it verified (vendor-protocols §2.2): sorted keys,
// sign_type included, raw values, sign and empty values left out.
func TestSignatureBaseGatewayExample(t *testing.T) {
	v := url.Values{
		"app_id":    {"2021000122671080"},
		"method":    {"alipay.security.risk.content.analyze"},
		"charset":   {"utf-8"},
		"sign_type": {"RSA2"},
		"timestamp": {"2024-05-13 17:49:20"},
		"version":   {"1.0"},
		"sign":      {"ignored"},
		"format":    {""},
	}
	want := "app_id=2021000122671080&charset=utf-8&method=alipay.security.risk.content.analyze&sign_type=RSA2&timestamp=2024-05-13 17:49:20&version=1.0"
	if got := signatureBase(v); got != want {
		t.Fatalf("signatureBase =\n%s\nwant\n%s", got, want)
	}
}

// independentBase is the signing base as smartwalle's encoder builds it:
// k=v pairs sorted as strings. It agrees with signatureBase whenever keys
// are distinct.
func independentBase(v url.Values) string {
	var pairs []string
	for k, vs := range v {
		if k == "sign" || vs[0] == "" {
			continue
		}
		pairs = append(pairs, k+"="+vs[0])
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

func verifyWith(t *testing.T, pemText string, v url.Values) error {
	t.Helper()
	pub, err := parsePublicKey(pemText)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := base64.StdEncoding.DecodeString(v.Get("sign"))
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(independentBase(v)))
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
}

// proxy sits between the provider and the sandbox's gateway. It keeps the
// requests' forms and lets a test change the answers.
type proxy struct {
	mu     sync.Mutex
	forms  []url.Values
	modify func(method string, body []byte) []byte
}

func newProxy(t *testing.T, v *vendor) (*proxy, string) {
	target, _ := url.Parse(v.URL)
	px := &proxy{}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(resp *http.Response) error {
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		px.mu.Lock()
		modify := px.modify
		method := ""
		if n := len(px.forms); n > 0 {
			method = px.forms[n-1].Get("method")
		}
		px.mu.Unlock()
		if modify != nil {
			body = modify(method, body)
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Del("Content-Length")
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		px.mu.Lock()
		px.forms = append(px.forms, form)
		px.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return px, srv.URL + "/openapi.alipay.com/gateway.do"
}

// TestRequestsVerifyWithAppPublicKey checks every request of a login and
// a face check, and the certify URL, against the app public key the
// sandbox has registered, with an independently built signing base.
func TestRequestsVerifyWithAppPublicKey(t *testing.T) {
	v := newVendor(t)
	px, gw := newProxy(t, v)
	p := newProvider(quiet(), v.Clock.Now)
	if err := p.Configure(context.Background(), v.configWith(0, func(m map[string]string) { m["gateway_url"] = gw })); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ss, err := p.BeginScan(ctx, sdk.BeginScanRequest{CallbackURL: "https://gateway.example/cb", State: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	_ = v.Scan(ctx, ss.QRContent)
	q, err := v.Approve(ctx, ss.QRContent)
	if err != nil {
		t.Fatal(err)
	}
	st, err := p.ScanCallback(ctx, ss.UUID, q)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.ExchangeCode(ctx, ss.UUID, st.Code); err != nil {
		t.Fatal(err)
	}
	m := v.people.Match
	fs, err := p.BeginFace(ctx, sdk.FaceRequest{Name: m.Name, IDNumber: m.IDNumber, ReturnURL: "https://gateway.example/face"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.QueryFace(ctx, fs.CertifyID); err != nil {
		t.Fatal(err)
	}
	certify, err := url.Parse(fs.QRContent)
	if err != nil {
		t.Fatal(err)
	}

	px.mu.Lock()
	forms := append([]url.Values{certify.Query()}, px.forms...)
	px.mu.Unlock()
	methods := map[string]bool{}
	for _, f := range forms {
		methods[f.Get("method")] = true
		if f.Get("sign_type") != "RSA2" || f.Get("app_id") != v.apps[0].AppID {
			t.Errorf("%s: sign_type %q app_id %q", f.Get("method"), f.Get("sign_type"), f.Get("app_id"))
		}
		if err := verifyWith(t, v.apps[0].AppPublicKeyPEM, f); err != nil {
			t.Errorf("%s: the request does not verify with the app public key: %v", f.Get("method"), err)
		}
		if err := verifyWith(t, v.apps[1].AppPublicKeyPEM, f); err == nil {
			t.Errorf("%s: verifies with another app's key", f.Get("method"))
		}
		ts, err := time.ParseInLocation(timeFormat, f.Get("timestamp"), beijing)
		if d := ts.Sub(v.Clock.Now()); err != nil || d > 2*time.Second || d < -2*time.Second {
			t.Errorf("%s: timestamp %q is not Beijing time now", f.Get("method"), f.Get("timestamp"))
		}
	}
	for _, want := range []string{methodOAuthToken, methodUserInfo, methodCertifyInit, methodCertify, methodCertifyQuery} {
		if !methods[want] {
			t.Errorf("no %s request seen", want)
		}
	}
}

// TestTamperedResponsesRefused changes the sandbox's answers on the way:
// any change to the signed node, a missing sign or a sign by another key
// is VendorUnavailable, never trusted.
func TestTamperedResponsesRefused(t *testing.T) {
	v := newVendor(t)
	otherKey, err := parsePrivateKey(v.apps[1].AppPrivateKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		modify func(body []byte) []byte
	}{
		{"a byte of the node changed", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"10000"`), []byte(`"10001"`), 1)
		}},
		{"certify id swapped", func(b []byte) []byte {
			i := bytes.Index(b, []byte(`"certify_id":"`)) + len(`"certify_id":"`)
			out := bytes.Clone(b)
			if out[i] == '0' {
				out[i] = '1'
			} else {
				out[i] = '0'
			}
			return out
		}},
		{"sign removed", func(b []byte) []byte {
			return append(b[:bytes.Index(b, []byte(`,"sign":`))], '}')
		}},
		{"signed by another key", func(b []byte) []byte {
			start := bytes.IndexByte(b, ':') + 1
			end := bytes.Index(b, []byte(`,"sign":`))
			sign, _ := signRSA2(otherKey, b[start:end])
			return append(append(bytes.Clone(b[:end]), []byte(`,"sign":"`+sign+`"`)...), '}')
		}},
		{"a forged node after the signed one", func(b []byte) []byte {
			return append(bytes.Clone(b[:len(b)-1]), []byte(`,"alipay_user_certify_open_initialize_response":{"code":"10000","certify_id":"forged"}}`)...)
		}},
	}
	m := v.people.Match
	req := sdk.FaceRequest{Name: m.Name, IDNumber: m.IDNumber, ReturnURL: "https://gateway.example/face"}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			px, gw := newProxy(t, v)
			px.modify = func(_ string, b []byte) []byte { return tc.modify(b) }
			p := newProvider(quiet(), v.Clock.Now)
			if err := p.Configure(context.Background(), v.configWith(0, func(m map[string]string) { m["gateway_url"] = gw })); err != nil {
				t.Fatal(err)
			}
			_, err := p.BeginFace(context.Background(), req)
			var e *sdk.Error
			if !errors.As(err, &e) || e.Kind != sdk.VendorUnavailable {
				t.Fatalf("BeginFace over a tampered answer = %v, want VendorUnavailable", err)
			}
		})
	}
	t.Run("untouched", func(t *testing.T) {
		_, gw := newProxy(t, v)
		p := newProvider(quiet(), v.Clock.Now)
		if err := p.Configure(context.Background(), v.configWith(0, func(m map[string]string) { m["gateway_url"] = gw })); err != nil {
			t.Fatal(err)
		}
		if _, err := p.BeginFace(context.Background(), req); err != nil {
			t.Fatalf("BeginFace through the proxy: %v", err)
		}
	})
}

// TestCertifyURLAsSmartwalle builds the certify URL with smartwalle's
// BuildURL and checks that the plugin makes the same URL, byte for byte,
// for the same timestamp (PKCS #1 v1.5 signatures are deterministic).
func TestCertifyURLAsSmartwalle(t *testing.T) {
	m := readManifest(t)
	key := string(readFixture(t, appKeyFile))
	gw := "https://openapi.alipay.com/gateway.do"
	client, err := smartwalle.New(m.AppID, key, true, smartwalle.WithProductionGateway(gw), smartwalle.WithTimeLocation(beijing))
	if err != nil {
		t.Fatal(err)
	}
	want, err := client.UserCertifyOpenCertify(smartwalle.UserCertifyOpenCertify{CertifyId: m.CertifyID})
	if err != nil {
		t.Fatal(err)
	}
	ts, err := time.ParseInLocation(timeFormat, want.Query().Get("timestamp"), beijing)
	if err != nil {
		t.Fatal(err)
	}
	appKey, _ := parsePrivateKey(key)
	got, err := signedValues(&config{appID: m.AppID, appKey: appKey}, ts, methodCertify, nil, certifyBiz{CertifyID: m.CertifyID})
	if err != nil {
		t.Fatal(err)
	}
	if g := gw + "?" + got.Encode(); g != want.String() {
		t.Fatalf("certify URL\n got %s\nwant %s", g, want)
	}
}
