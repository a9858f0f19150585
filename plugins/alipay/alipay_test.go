package alipay

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/handle"
	"github.com/shiming-id/shiming/plugins/sdk/pluginconfig"
)

// parsePrivateKey and parsePublicKey read keys as the configuration does.
func parsePrivateKey(s string) (*rsa.PrivateKey, error) {
	return pluginconfig.ParseRSAPrivateKey(s, keyOptions)
}

func parsePublicKey(s string) (*rsa.PublicKey, error) {
	return pluginconfig.ParseRSAPublicKey(s, keyOptions)
}

func configJSON(t *testing.T, change func(map[string]any)) json.RawMessage {
	t.Helper()
	m := map[string]any{
		"app_id":            "2021000000000001",
		"app_private_key":   string(readFixture(t, appKeyFile)),
		"alipay_public_key": string(readFixture(t, publicKeyFile)),
		"handle_key":        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	}
	if change != nil {
		change(m)
	}
	b, _ := json.Marshal(m)
	return b
}

func TestConfigure(t *testing.T) {
	appKey, _ := parsePrivateKey(string(readFixture(t, appKeyFile)))
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(appKey)
	pkcs8PEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}))
	bare := base64.StdEncoding.EncodeToString(pkcs8)
	pub, _ := parsePublicKey(string(readFixture(t, publicKeyFile)))
	pkcs1Pub := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(pub)}))
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallPEM := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(small)}))

	cases := []struct {
		name   string
		change func(map[string]any)
		fields []string
	}{
		{"defaults", nil, nil},
		{"PKCS #8 app key", func(m map[string]any) { m["app_private_key"] = pkcs8PEM }, nil},
		{"bare base64 app key as the console shows it", func(m map[string]any) { m["app_private_key"] = bare }, nil},
		{"PKCS #1 public key", func(m map[string]any) { m["alipay_public_key"] = pkcs1Pub }, nil},
		{"every URL and the timeout", func(m map[string]any) {
			m["gateway_url"], m["openauth_base"], m["http_timeout"] = "http://127.0.0.1:8081/openapi.alipay.com/gateway.do", "http://127.0.0.1:8081/openauth.alipay.com/", "3s"
		}, nil},
		{"empty object", func(m map[string]any) { clear(m) }, []string{"app_id", "app_private_key", "alipay_public_key", "handle_key"}},
		{"app id not digits", func(m map[string]any) { m["app_id"] = "wx1234" }, []string{"app_id"}},
		{"keys swapped", func(m map[string]any) {
			m["app_private_key"], m["alipay_public_key"] = m["alipay_public_key"], m["app_private_key"]
		}, []string{"app_private_key", "alipay_public_key"}},
		{"a 1024-bit key", func(m map[string]any) { m["app_private_key"] = smallPEM }, []string{"app_private_key"}},
		{"two PEM blocks", func(m map[string]any) { m["alipay_public_key"] = pkcs1Pub + pkcs1Pub }, []string{"alipay_public_key"}},
		{"short handle key", func(m map[string]any) { m["handle_key"] = "c2hvcnQ=" }, []string{"handle_key"}},
		{"bad URLs", func(m map[string]any) {
			m["gateway_url"], m["openauth_base"] = "ftp://x/gateway.do", "https://openauth.alipay.com?x=1"
		}, []string{"gateway_url", "openauth_base"}},
		{"bad timeout", func(m map[string]any) { m["http_timeout"] = "1h" }, []string{"http_timeout"}},
		{"wrong types and an unknown key", func(m map[string]any) { m["app_id"] = 2021; m["sandbox"] = true }, []string{"sandbox", "app_id"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := newProvider(quiet(), time.Now).Configure(context.Background(), configJSON(t, tc.change))
			if tc.fields == nil {
				if err != nil {
					t.Fatalf("Configure = %v", err)
				}
				return
			}
			var e *sdk.Error
			if !errors.As(err, &e) || e.Kind != sdk.InvalidConfig || !slices.Equal(e.Fields, tc.fields) {
				t.Fatalf("Configure = %v, want InvalidConfig naming %v", err, tc.fields)
			}
			for _, secret := range []string{"PRIVATE KEY", "MII"} {
				if strings.Contains(e.Error(), secret) {
					t.Errorf("the error quotes key material: %v", e)
				}
			}
		})
	}
	t.Run("not an object", func(t *testing.T) {
		err := newProvider(quiet(), time.Now).Configure(context.Background(), json.RawMessage(`[]`))
		if sdk.KindOf(err) != sdk.InvalidConfig {
			t.Fatalf("Configure([]) = %v", err)
		}
	})
}

func TestNotConfigured(t *testing.T) {
	p := newProvider(quiet(), time.Now)
	ctx := context.Background()
	_, err := p.BeginScan(ctx, sdk.BeginScanRequest{CallbackURL: "https://x.example/cb"})
	if sdk.KindOf(err) != sdk.InvalidConfig {
		t.Fatalf("BeginScan before Configure = %v", err)
	}
	_, err = p.QueryFace(ctx, "x")
	if sdk.KindOf(err) != sdk.InvalidConfig {
		t.Fatalf("QueryFace before Configure = %v", err)
	}
}

// sealing returns a configuration of appID that only seals handles.
func sealing(t *testing.T, handleKey []byte, appID string) *configured {
	t.Helper()
	s, err := handle.NewSealer(handleKey, handleLabel)
	if err != nil {
		t.Fatal(err)
	}
	return &configured{config: &config{appID: appID}, handles: s}
}

func TestHandles(t *testing.T) {
	key := make([]byte, 32)
	s := sealing(t, key, "2021000000000001")
	other := sealing(t, key, "2021000000000002")
	otherKey := sealing(t, append([]byte{1}, key[1:]...), "2021000000000001")
	h := payload{ID: "cert-1", State: "state 状态", Exp: 1_900_000_000}
	text, err := s.sealHandle(handleFace, h)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := s.openHandle(handleFace, text); !ok || got != h {
		t.Fatalf("open(seal(h)) = %+v, %v", got, ok)
	}
	if again, _ := s.sealHandle(handleFace, h); again == text {
		t.Error("two seals of one handle are equal; the nonce is not fresh")
	}
	flipped := []byte(text)
	flipped[len(flipped)/2] ^= 1
	cases := []struct {
		name string
		s    *configured
		kind string
		text string
	}{
		{"another app", other, handleFace, text},
		{"another handle key", otherKey, handleFace, text},
		{"another kind", s, handleScan, text},
		{"a changed byte", s, handleFace, string(flipped)},
		{"truncated", s, handleFace, text[:len(text)-2]},
		{"empty", s, handleFace, ""},
		{"not base64", s, handleFace, "**"},
		{"too long", s, handleFace, strings.Repeat("A", handle.MaxLen+1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := tc.s.openHandle(tc.kind, tc.text); ok {
				t.Fatal("opened")
			}
		})
	}
}

func TestScanSessionLifetime(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	p := newProvider(quiet(), clock)
	if err := p.Configure(context.Background(), configJSON(t, nil)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ss, err := p.BeginScan(ctx, sdk.BeginScanRequest{CallbackURL: "https://gateway.example/cb?portal=hxw", State: "a&b"})
	if err != nil {
		t.Fatal(err)
	}
	want := "https://openauth.alipay.com/oauth2/publicAppAuthorize.htm?app_id=2021000000000001&scope=auth_user&redirect_uri=https%3A%2F%2Fgateway.example%2Fcb%3Fportal%3Dhxw&state=a%26b"
	if ss.QRContent != want || !ss.ExpiresAt.Equal(now.Add(scanTTL)) {
		t.Fatalf("BeginScan = %+v\nwant QR %s", ss, want)
	}
	for _, tc := range []struct {
		at   time.Duration
		want sdk.ScanState
	}{{0, sdk.ScanWaiting}, {scanTTL - time.Second, sdk.ScanWaiting}, {scanTTL, sdk.ScanExpired}, {time.Hour, sdk.ScanExpired}} {
		now = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC).Add(tc.at)
		st, err := p.PollScan(ctx, ss.UUID)
		if err != nil || st.State != tc.want {
			t.Errorf("PollScan after %s = %v, %v; want %v", tc.at, st.State, err, tc.want)
		}
	}
	for _, bad := range []sdk.BeginScanRequest{{CallbackURL: "/relative"}, {CallbackURL: "https://x.example/cb", State: strings.Repeat("s", maxState+1)}} {
		if _, err := p.BeginScan(ctx, bad); sdk.KindOf(err) != sdk.InvalidRequest {
			t.Errorf("BeginScan(%.40v) = %v, want InvalidRequest", bad, err)
		}
	}
}

func TestBeginFaceValidates(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls++ }))
	defer srv.Close()
	p := newProvider(quiet(), time.Now)
	if err := p.Configure(context.Background(), configJSON(t, func(m map[string]any) { m["gateway_url"] = srv.URL })); err != nil {
		t.Fatal(err)
	}
	_, err := p.BeginFace(context.Background(), sdk.FaceRequest{Name: " ", IDNumber: "110105194912310021", ReturnURL: "javascript:x"})
	var e *sdk.Error
	if !errors.As(err, &e) || e.Kind != sdk.InvalidRequest || !slices.Equal(e.Fields, []string{"name", "id_number", "return_url"}) {
		t.Fatalf("BeginFace = %v, want InvalidRequest naming name, id_number, return_url", err)
	}
	if calls != 0 {
		t.Fatalf("the gateway was called %d times for a bad request", calls)
	}
}

func TestIdentityOf(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	tok := tokenNode{UserID: "2088000000000001", OpenID: "0abc", AccessToken: "t"}
	full := userInfoNode{UserID: tok.UserID, OpenID: tok.OpenID, NickName: "小张", IsCertified: "T",
		UserName: "张三", CertType: "0", CertNo: "11010519491231002x", Mobile: "13800138000"}
	cases := []struct {
		name    string
		tok     tokenNode
		info    userInfoNode
		subject string
		named   bool
		phone   bool
	}{
		{"real name", tok, full, tok.UserID, true, true},
		{"open_id mode", tokenNode{OpenID: "0abc", AccessToken: "t"}, userInfoNode{OpenID: "0abc", NickName: "n"}, "0abc", false, false},
		{"not certified", tok, func() userInfoNode { i := full; i.IsCertified = "F"; return i }(), tok.UserID, false, true},
		{"another certificate type", tok, func() userInfoNode { i := full; i.CertType = "1"; return i }(), tok.UserID, false, true},
		{"invalid number", tok, func() userInfoNode { i := full; i.CertNo = "110105194912310021"; return i }(), tok.UserID, false, true},
		{"invalid mobile", tok, func() userInfoNode { i := full; i.Mobile = "12345"; return i }(), tok.UserID, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := identityOf(tc.tok, tc.info, now)
			if id.Subject != tc.subject || id.SubjectIDs["open_id"] != "0abc" {
				t.Errorf("subject %q ids %v, want %q", id.Subject, id.SubjectIDs, tc.subject)
			}
			if named := id.Name != "" && id.IDNumber == "11010519491231002X" && id.Level == sdk.LevelNameID; named != tc.named {
				t.Errorf("identity %+v: named %v, want %v", id, named, tc.named)
			}
			if (id.Phone != "") != tc.phone {
				t.Errorf("phone %q, want one: %v", id.Phone, tc.phone)
			}
		})
	}
}

func TestKindFor(t *testing.T) {
	cases := []struct {
		code, sub string
		want      sdk.Kind
	}{
		{"40002", "isv.code-invalid", sdk.CodeReused},
		{"40004", "NAME_CERT_NO_NOT_MATCH", sdk.NameIDMismatch},
		{"40004", "OPEN_CERTIFY_BILL_NOT_EXIST", sdk.InvalidRequest},
		{"40005", "", sdk.RateLimited},
		{"40005", "isv.app-call-limited", sdk.RateLimited},
		{"40004", "BUSINESS_LIMIT_CONTROL", sdk.RateLimited},
		{"20000", "", sdk.VendorUnavailable},
		{"20000", "isp.unknow-error", sdk.VendorUnavailable},
		{"40004", "isp.some-new-failure", sdk.VendorUnavailable},
		{"40002", "isv.invalid-signature", sdk.InvalidConfig},
		{"40002", "isv.invalid-app-id", sdk.InvalidConfig},
		{"40006", "", sdk.InvalidConfig},
		{"40002", "isv.invalid-timestamp", sdk.Internal},
		{"40001", "isv.missing-something", sdk.Internal},
		{"40002", "isv.invalid-parameter", sdk.InvalidRequest},
		{"20001", "aop.invalid-auth-token", sdk.CodeInvalid},
		{"20001", "aop.auth-token-time-out", sdk.Expired},
		{"40004", "SOMETHING_NEW", sdk.VendorUnavailable},
	}
	for _, tc := range cases {
		if got := kindFor(nodeHead{Code: tc.code, SubCode: tc.sub}); got != tc.want {
			t.Errorf("kindFor(%s, %s) = %v, want %v", tc.code, tc.sub, got, tc.want)
		}
	}
}

// TestHTTPFailures covers what never reaches the verifier.
func TestHTTPFailures(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		vendor string
	}{
		{"HTTP 500", 500, "oops", "500"},
		{"HTTP 502 with JSON", 502, `{"error_response":{}}`, "502"},
		{"HTML", 200, "<html><body>维护中</body></html>", "200"},
		{"empty", 200, "", "200"},
		{"no node", 200, `{"sign":"x"}`, "200"},
		{"node not an object", 200, `{"alipay_user_certify_open_initialize_response":"x","sign":"x"}`, "200"},
		{"trailing data", 200, `{"alipay_user_certify_open_initialize_response":{},"sign":"x"} {}`, "200"},
		{"too large", 200, `{"a":"` + strings.Repeat("x", maxResponse) + `"}`, "200"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			p := newProvider(quiet(), time.Now)
			if err := p.Configure(context.Background(), configJSON(t, func(m map[string]any) { m["gateway_url"] = srv.URL })); err != nil {
				t.Fatal(err)
			}
			_, err := p.BeginFace(context.Background(), sdk.FaceRequest{Name: "张三", IDNumber: "11010519491231002X", ReturnURL: "https://x.example/r"})
			wantErr(t, err, sdk.VendorUnavailable, tc.vendor)
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		p := newProvider(quiet(), time.Now)
		if err := p.Configure(context.Background(), configJSON(t, func(m map[string]any) { m["gateway_url"] = srv.URL })); err != nil {
			t.Fatal(err)
		}
		_, err := p.BeginFace(context.Background(), sdk.FaceRequest{Name: "张三", IDNumber: "11010519491231002X", ReturnURL: "https://x.example/r"})
		wantErr(t, err, sdk.VendorUnavailable, "")
	})
}

// TestLiveSandboxErrors maps errors the sandbox produces on the spot.
func TestLiveSandboxErrors(t *testing.T) {
	v := newVendor(t)
	ctx := context.Background()
	m := v.people.Match
	face := sdk.FaceRequest{Name: m.Name, IDNumber: m.IDNumber, ReturnURL: "https://gateway.example/face"}
	t.Run("name and number do not match", func(t *testing.T) {
		x := v.people.Mismatch
		_, err := v.provider(0).BeginFace(ctx, sdk.FaceRequest{Name: x.Name, IDNumber: x.IDNumber, ReturnURL: face.ReturnURL})
		wantErr(t, err, sdk.NameIDMismatch, "NAME_CERT_NO_NOT_MATCH")
	})
	t.Run("rate limited", func(t *testing.T) {
		v.inject("40005")
		_, err := v.provider(0).BeginFace(ctx, face)
		wantErr(t, err, sdk.RateLimited, "isv.app-call-limited")
	})
	t.Run("system error", func(t *testing.T) {
		v.inject("isp.unknow-error")
		_, err := v.provider(0).BeginFace(ctx, face)
		wantErr(t, err, sdk.VendorUnavailable, "isp.unknow-error")
	})
	t.Run("HTTP 500", func(t *testing.T) {
		v.inject("http_500")
		_, err := v.provider(0).BeginFace(ctx, face)
		wantErr(t, err, sdk.VendorUnavailable, "500")
	})
	t.Run("wrong app key", func(t *testing.T) {
		p := newProvider(quiet(), v.Clock.Now)
		_ = p.Configure(ctx, v.configWith(0, func(c map[string]string) { c["app_private_key"] = v.apps[1].AppPrivateKeyPEM }))
		_, err := p.BeginFace(ctx, face)
		wantErr(t, err, sdk.InvalidConfig, "isv.invalid-signature")
	})
	t.Run("unknown app answered unsigned", func(t *testing.T) {
		p := newProvider(quiet(), v.Clock.Now)
		_ = p.Configure(ctx, v.configWith(0, func(c map[string]string) { c["app_id"] = "2021999999999999" }))
		_, err := p.BeginFace(ctx, face)
		wantErr(t, err, sdk.VendorUnavailable, vendorCodeBad)
	})
	t.Run("a face id of another app", func(t *testing.T) {
		fs, err := v.provider(1).BeginFace(ctx, face)
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.provider(0).QueryFace(ctx, fs.CertifyID)
		wantErr(t, err, sdk.UUIDInvalid, "")
	})
	t.Run("a scan uuid is not a face id", func(t *testing.T) {
		p := v.provider(0)
		ss, _ := p.BeginScan(ctx, sdk.BeginScanRequest{CallbackURL: "https://gateway.example/cb"})
		_, err := p.QueryFace(ctx, ss.UUID)
		wantErr(t, err, sdk.UUIDInvalid, "")
	})
	t.Run("cancelled context", func(t *testing.T) {
		restore := v.Slow("alipay")()
		defer restore()
		cctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(50*time.Millisecond, cancel)
		_, err := v.provider(0).BeginFace(cctx, face)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("BeginFace with a cancelled context = %v", err)
		}
	})
}
