package ctid

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ctidsim "github.com/shiming-id/shiming/contrib/sandbox/ctid"
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

func configJSON(t testing.TB, change func(map[string]any)) json.RawMessage {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(replayConfig(t, "https://ctid.example/api"), &m); err != nil {
		t.Fatal(err)
	}
	if change != nil {
		change(m)
	}
	b, _ := json.Marshal(m)
	return b
}

func TestConfigure(t *testing.T) {
	orgKey, err := parsePrivateKey(string(readFixture(t, orgKeyFile)))
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(orgKey)}))
	pub, _ := parsePublicKey(string(readFixture(t, platformFile)))
	pkcs1Pub := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(pub)}))
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallPub, _ := x509.MarshalPKIXPublicKey(&small.PublicKey)
	smallPubPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: smallPub}))

	cases := []struct {
		name   string
		change func(map[string]any)
		fields []string
	}{
		{"recorded", nil, nil},
		{"PKCS #1 keys", func(m map[string]any) { m["org_private_key"], m["platform_public_key"] = pkcs1, pkcs1Pub }, nil},
		{"http on loopback and a timeout", func(m map[string]any) {
			m["base_url"], m["http_timeout"] = "http://127.0.0.1:8081/ctid.sandbox/", "2s"
		}, nil},
		{"empty object", func(m map[string]any) { clear(m) },
			[]string{"org_code", "org_private_key", "platform_public_key", "base_url", "handle_key"}},
		{"keys swapped", func(m map[string]any) {
			m["org_private_key"], m["platform_public_key"] = m["platform_public_key"], m["org_private_key"]
		}, []string{"org_private_key", "platform_public_key"}},
		{"a 1024-bit platform key", func(m map[string]any) { m["platform_public_key"] = smallPubPEM }, []string{"platform_public_key"}},
		{"org code with a space", func(m map[string]any) { m["org_code"] = "SBX 1" }, []string{"org_code"}},
		{"base URL with a query", func(m map[string]any) { m["base_url"] = "https://ctid.example/api?x=1" }, []string{"base_url"}},
		{"base URL not http", func(m map[string]any) { m["base_url"] = "ftp://ctid.example" }, []string{"base_url"}},
		{"handle key not base64", func(m map[string]any) { m["handle_key"] = "***" }, []string{"handle_key"}},
		{"timeout zero", func(m map[string]any) { m["http_timeout"] = "0s" }, []string{"http_timeout"}},
		{"wrong type and unknown keys", func(m map[string]any) { m["org_code"] = 7; m["z"] = 1; m["a"] = 2 }, []string{"a", "z", "org_code"}},
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
			if strings.Contains(e.Error(), "MII") {
				t.Errorf("the error quotes key material: %v", e)
			}
		})
	}
}

// sealing returns a configuration of orgCode that only seals handles.
func sealing(t *testing.T, handleKey []byte, orgCode string) *configured {
	t.Helper()
	s, err := handle.NewSealer(handleKey, handleLabel)
	if err != nil {
		t.Fatal(err)
	}
	return &configured{config: &config{orgCode: orgCode}, handles: s}
}

func TestHandles(t *testing.T) {
	key := make([]byte, 32)
	s := sealing(t, key, "ORG1")
	other := sealing(t, key, "ORG2")
	h := payload{BSN: "0123456789ABCDEF01", Exp: 1_900_000_000}
	text, err := s.sealHandle(handleScan, h)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := s.openHandle(handleScan, text); !ok || got != h {
		t.Fatalf("open(seal(h)) = %+v, %v", got, ok)
	}
	noBSN, _ := s.sealHandle(handleScan, payload{Exp: 1})
	for name, tc := range map[string]struct {
		s          *configured
		kind, text string
	}{
		"another organisation": {other, handleScan, text},
		"another kind":         {s, handleFace, text},
		"a changed character":  {s, handleScan, text[:5] + string(text[5]^1) + text[6:]},
		"without a bsn":        {s, handleScan, noBSN},
		"empty":                {s, handleScan, ""},
	} {
		if _, ok := tc.s.openHandle(tc.kind, tc.text); ok {
			t.Errorf("%s: opened", name)
		}
	}
}

// TestEnvelopeInterop signs with the plugin and verifies with the
// sandbox's code, and the other way round.
func TestEnvelopeInterop(t *testing.T) {
	key, err := parsePrivateKey(string(readFixture(t, orgKeyFile)))
	if err != nil {
		t.Fatal(err)
	}
	body, err := sealRequest(key, "ORG1", map[string]string{"authMode": modeRead, "note": "<&> 张"})
	if err != nil {
		t.Fatal(err)
	}
	var env ctidsim.Envelope
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	if err := ctidsim.Verify(&key.PublicKey, []byte(env.BizPackage), env.Sign); err != nil {
		t.Fatalf("the sandbox does not verify the plugin's envelope: %v", err)
	}
	if strings.ContainsAny(env.Sign, "+/=") {
		t.Errorf("sign %q is not unpadded base64url", env.Sign)
	}
	var pkg map[string]any
	if err := json.Unmarshal([]byte(env.BizPackage), &pkg); err != nil || pkg["orgCode"] != "ORG1" || pkg["bizType"] != float64(bizType) {
		t.Fatalf("bizPackage %s", env.BizPackage)
	}
	sandboxSign, err := ctidsim.Sign(key, []byte(`{"resultCode":"0"}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{sandboxSign, sandboxSign + strings.Repeat("=", (4-len(sandboxSign)%4)%4)} {
		if err := verify(&key.PublicKey, []byte(`{"resultCode":"0"}`), s); err != nil {
			t.Errorf("the plugin does not verify the sandbox's sign %q: %v", s, err)
		}
	}
}

// decryptRetain reverses the retain data as the README defines it.
func decryptRetain(t testing.TB, key *rsa.PrivateKey, s string) retainData {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	k := key.Size()
	secret, err := rsa.DecryptOAEP(sha256.New(), nil, key, raw[:k], nil)
	if err != nil || len(secret) != 32 {
		t.Fatalf("RSA-OAEP-SHA256 head: %v (%d bytes)", err, len(secret))
	}
	block, _ := aes.NewCipher(secret[:16])
	body := bytes.Clone(raw[k:])
	if len(body) == 0 || len(body)%aes.BlockSize != 0 {
		t.Fatalf("AES-CBC body of %d bytes", len(body))
	}
	cipher.NewCBCDecrypter(block, secret[16:]).CryptBlocks(body, body)
	n := int(body[len(body)-1])
	if n == 0 || n > aes.BlockSize || !bytes.Equal(body[len(body)-n:], bytes.Repeat([]byte{byte(n)}, n)) {
		t.Fatalf("bad PKCS #7 padding %x", body[len(body)-aes.BlockSize:])
	}
	var d retainData
	if err := json.Unmarshal(body[:len(body)-n], &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestRetainData(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	in := retainData{Name: "欧阳婧", IDNo: "43012219990520488X"}
	a, err := encryptRetainData(&key.PublicKey, in)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := encryptRetainData(&key.PublicKey, in)
	if a == b {
		t.Error("two encryptions are equal: the key and IV are not fresh")
	}
	if got := decryptRetain(t, key, a); got != in {
		t.Fatalf("decrypted %+v", got)
	}
}

func TestKindFor(t *testing.T) {
	want := map[string]sdk.Kind{
		"1001": sdk.Internal, "1002": sdk.InvalidConfig, "1003": sdk.InvalidConfig, "1004": sdk.InvalidRequest,
		"1005": sdk.NotSupported, "2001": sdk.UUIDInvalid, "2002": sdk.Expired, "2003": sdk.InvalidRequest,
		"3001": sdk.CodeInvalid, "3002": sdk.CodeReused, "3003": sdk.Expired, "4001": sdk.InvalidConfig,
		"4002": sdk.InvalidRequest, "4003": sdk.NameIDMismatch, "4004": sdk.FaceMismatch, "4005": sdk.LivenessFailed,
		"4006": sdk.Cancelled, "9999": sdk.VendorUnavailable, "8888": sdk.VendorUnavailable,
	}
	for code := range ctidsim.Descriptions() {
		if code == resultOK {
			continue
		}
		if _, ok := want[code]; !ok {
			t.Errorf("result code %s of the sandbox is not mapped by this test", code)
		}
	}
	for code, k := range want {
		if got := kindFor(code); got != k {
			t.Errorf("kindFor(%s) = %v, want %v", code, got, k)
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
		{"HTTP 404", 404, `{"bizPackage":"{}","sign":""}`, "404"},
		{"HTML", 200, "<html>维护中</html>", "200"},
		{"empty", 200, "", "200"},
		{"bizPackage not JSON", 200, `{"bizPackage":"<x>","sign":"AAAA"}`, "200"},
		{"no result code", 200, `{"bizPackage":"{}","sign":"AAAA"}`, "200"},
		{"too large", 200, `{"bizPackage":"` + strings.Repeat("x", maxResponse) + `"}`, "200"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			p := newProvider(quiet(), time.Now)
			if err := p.Configure(context.Background(), configJSON(t, func(m map[string]any) { m["base_url"] = srv.URL })); err != nil {
				t.Fatal(err)
			}
			_, err := p.BeginScan(context.Background(), sdk.BeginScanRequest{})
			wantErr(t, err, sdk.VendorUnavailable, tc.vendor)
		})
	}
}

func TestSuccessForAnotherOrganisation(t *testing.T) {
	r := &replay{t: t, answers: map[string]string{pathApply: "apply_read.json"}}
	srv := httptest.NewServer(r)
	defer srv.Close()
	p := newProvider(quiet(), time.Now)
	if err := p.Configure(context.Background(), configJSON(t, func(m map[string]any) {
		m["base_url"], m["org_code"] = srv.URL, "SBXSOMEONEELSE"
	})); err != nil {
		t.Fatal(err)
	}
	_, err := p.BeginScan(context.Background(), sdk.BeginScanRequest{})
	wantErr(t, err, sdk.VendorUnavailable, "org_mismatch")
}

// TestExpiredSessionNotAsked: a QR session past its time polls EXPIRED
// without a call.
func TestExpiredSessionNotAsked(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	defer srv.Close()
	now := time.Now()
	p := newProvider(quiet(), func() time.Time { return now })
	if err := p.Configure(context.Background(), configJSON(t, func(m map[string]any) { m["base_url"] = srv.URL })); err != nil {
		t.Fatal(err)
	}
	uuid, _ := p.cur.Load().sealHandle(handleScan, payload{BSN: "B1", Exp: now.Unix()})
	st, err := p.PollScan(context.Background(), uuid)
	if err != nil || st.State != sdk.ScanExpired || calls.Load() != 0 {
		t.Fatalf("PollScan = %+v, %v after %d calls", st, err, calls.Load())
	}
}

func TestIdentityOf(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	key := []byte("k")
	a := identityAnswer{BSN: "B1", AuthMode: modeRead, Name: " 刘䶮 ", IDNo: "430105199606181554", BID: "52AC60F4"}
	id, err := identityOf(a, key, now)
	if err != nil || id.Subject != "52AC60F4" || id.Name != "刘䶮" || id.Level != sdk.LevelCTID || id.Reference != "B1" {
		t.Fatalf("identityOf = %+v, %v", id, err)
	}
	a.BID = ""
	h1, _ := identityOf(a, key, now)
	h2, _ := identityOf(a, []byte("other"), now)
	if !strings.HasPrefix(h1.Subject, "idh_") || h1.Subject == h2.Subject || strings.Contains(h1.Subject, a.IDNo) || len(h1.SubjectIDs) != 0 {
		t.Fatalf("subjects without bid: %q, %q", h1.Subject, h2.Subject)
	}
	for name, bad := range map[string]identityAnswer{
		"invalid number": {BSN: "B1", Name: "张三", IDNo: "110105194912310021"},
		"no name":        {BSN: "B1", IDNo: "11010519491231002X"},
		"another mode":   {BSN: "B1", AuthMode: modeTwoPortrait, Name: "张三", IDNo: "11010519491231002X"},
	} {
		if _, err := identityOf(bad, key, now); sdk.KindOf(err) != sdk.VendorUnavailable {
			t.Errorf("%s: identityOf = %v", name, err)
		}
	}
}

// tamperProxy sits between the provider and the sandbox and changes the
// answers.
func tamperProxy(t *testing.T, v *vendor, modify func([]byte) []byte) string {
	target, _ := url.Parse(v.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(resp *http.Response) error {
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		body = modify(body)
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Del("Content-Length")
		return nil
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv.URL + "/ctid.sandbox"
}

func rewrite(body []byte, change func(pkg, sign string) (string, string)) []byte {
	var env envelope
	if json.Unmarshal(body, &env) != nil {
		return body
	}
	env.BizPackage, env.Sign = change(env.BizPackage, env.Sign)
	b, _ := json.Marshal(env)
	return b
}

func TestTamperedAnswersRefused(t *testing.T) {
	v := newVendor(t)
	otherKey, _ := parsePrivateKey(v.orgs[1].OrgPrivateKeyPEM)
	cases := []struct {
		name   string
		modify func([]byte) []byte
		ok     bool
	}{
		{"untouched", func(b []byte) []byte { return b }, true},
		{"padded sign", func(b []byte) []byte {
			return rewrite(b, func(p, s string) (string, string) { return p, s + strings.Repeat("=", (4-len(s)%4)%4) })
		}, true},
		{"bizPackage changed", func(b []byte) []byte {
			return rewrite(b, func(p, s string) (string, string) {
				return strings.Replace(p, `"expiresIn":300`, `"expiresIn":3000`, 1), s
			})
		}, false},
		{"sign removed", func(b []byte) []byte {
			return rewrite(b, func(p, _ string) (string, string) { return p, "" })
		}, false},
		{"signed by another key", func(b []byte) []byte {
			return rewrite(b, func(p, _ string) (string, string) { s, _ := sign(otherKey, []byte(p)); return p, s })
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base := tamperProxy(t, v, tc.modify)
			p := newProvider(quiet(), v.Clock.Now)
			if err := p.Configure(context.Background(), v.configWith(0, func(m map[string]string) { m["base_url"] = base })); err != nil {
				t.Fatal(err)
			}
			_, err := p.BeginScan(context.Background(), sdk.BeginScanRequest{})
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantErr(t, err, sdk.VendorUnavailable, vendorCodeBad)
		})
	}
}

// TestLiveSandboxErrors maps errors the sandbox produces on the spot.
func TestLiveSandboxErrors(t *testing.T) {
	v := newVendor(t)
	ctx := context.Background()
	m := v.people.Match
	with := func(change func(map[string]string)) *Provider {
		p := newProvider(quiet(), v.Clock.Now)
		if err := p.Configure(ctx, v.configWith(0, change)); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Run("busy", func(t *testing.T) {
		v.inject("/v1/apply", "9999")
		_, err := v.provider(0).CheckIdentity(ctx, m.Name, m.IDNumber)
		wantErr(t, err, sdk.VendorUnavailable, "9999")
	})
	t.Run("HTTP 500", func(t *testing.T) {
		v.inject("/v1/apply", "http_500")
		_, err := v.provider(0).BeginScan(ctx, sdk.BeginScanRequest{})
		wantErr(t, err, sdk.VendorUnavailable, "500")
	})
	t.Run("another platform key", func(t *testing.T) {
		_, err := with(func(c map[string]string) { c["platform_public_key"] = v.orgs[1].OrgPublicKeyPEM }).BeginScan(ctx, sdk.BeginScanRequest{})
		wantErr(t, err, sdk.VendorUnavailable, vendorCodeBad)
	})
	t.Run("another org key", func(t *testing.T) {
		_, err := with(func(c map[string]string) { c["org_private_key"] = v.orgs[1].OrgPrivateKeyPEM }).BeginScan(ctx, sdk.BeginScanRequest{})
		wantErr(t, err, sdk.InvalidConfig, "1002")
	})
	t.Run("unknown org", func(t *testing.T) {
		_, err := with(func(c map[string]string) { c["org_code"] = "SBXNOBODY" }).BeginScan(ctx, sdk.BeginScanRequest{})
		wantErr(t, err, sdk.InvalidConfig, "1003")
	})
	t.Run("invalid number never sent", func(t *testing.T) {
		_, err := v.provider(0).CheckIdentity(ctx, m.Name, "110105194912310021")
		wantErr(t, err, sdk.InvalidRequest, "")
	})
	t.Run("portrait check of a name not on the card", func(t *testing.T) {
		// The portrait check compares with the 网证 (the card's chip data):
		// a name the population registry holds differently passes there,
		// a name that is not on the card does not.
		x := v.people.Mismatch
		_, err := v.provider(0).BeginFace(ctx, sdk.FaceRequest{Name: "某某", IDNumber: x.IDNumber})
		wantErr(t, err, sdk.NameIDMismatch, "4003")
	})
	t.Run("a face id of another organisation", func(t *testing.T) {
		fs, err := v.provider(1).BeginFace(ctx, sdk.FaceRequest{Name: m.Name, IDNumber: m.IDNumber})
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.provider(0).QueryFace(ctx, fs.CertifyID)
		wantErr(t, err, sdk.UUIDInvalid, "")
	})
	t.Run("cancelled on the phone", func(t *testing.T) {
		p := v.provider(0)
		fs, err := p.BeginFace(ctx, sdk.FaceRequest{Name: m.Name, IDNumber: m.IDNumber})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Act(ctx, fs.QRContent, "cancel", m.IDNumber); err != nil {
			t.Fatal(err)
		}
		st, err := p.QueryFace(ctx, fs.CertifyID)
		if err != nil || st.Result != sdk.FaceFailed || st.Reason != sdk.Cancelled {
			t.Fatalf("QueryFace = %+v, %v", st, err)
		}
	})
	t.Run("the chip's name, not the registry's", func(t *testing.T) {
		p := v.provider(0)
		ss, err := p.BeginScan(ctx, sdk.BeginScanRequest{})
		if err != nil {
			t.Fatal(err)
		}
		x := v.people.Mismatch
		if _, err := v.Act(ctx, ss.QRContent, "read", x.IDNumber); err != nil {
			t.Fatal(err)
		}
		st, err := p.PollScan(ctx, ss.UUID)
		if err != nil || st.State != sdk.ScanConfirmed {
			t.Fatalf("PollScan = %+v, %v", st, err)
		}
		id, err := p.ExchangeCode(ctx, ss.UUID, st.Code)
		if err != nil || id.Name != x.Name || id.IDNumber != x.IDNumber || id.Level != sdk.LevelCTID || id.SubjectIDs["bid"] == "" {
			t.Fatalf("ExchangeCode = %+v, %v", id, err)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		restore := v.Slow("ctid")()
		defer restore()
		cctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(50*time.Millisecond, cancel)
		_, err := v.provider(0).CheckIdentity(cctx, m.Name, m.IDNumber)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("CheckIdentity with a cancelled context = %v", err)
		}
	})
}
