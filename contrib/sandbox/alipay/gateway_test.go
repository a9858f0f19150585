package alipay

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/fault"
)

// want is the expected answer of a table case.
type want struct {
	node     string // defaults to the method's node
	code     string // "" for the oauth.token success node
	subCode  string
	unsigned bool
}

func check(t *testing.T, f *fixture, body []byte, method string, w want) response {
	t.Helper()
	r := parseResponse(t, &testKey(t, "sandbox").PublicKey, body)
	node := w.node
	if node == "" {
		node = nodeName(method)
	}
	if r.node != node {
		t.Fatalf("node = %s, want %s: %s", r.node, node, body)
	}
	if got := r.str("code"); got != w.code {
		t.Fatalf("code = %q, want %q: %s", got, w.code, body)
	}
	if got := r.str("sub_code"); got != w.subCode {
		t.Fatalf("sub_code = %q, want %q: %s", got, w.subCode, body)
	}
	if (r.sign == "") != w.unsigned {
		t.Fatalf("signed = %v, want %v: %s", r.sign != "", !w.unsigned, body)
	}
	if w.code != "" && r.str("msg") != codeMsg[w.code] {
		t.Fatalf("msg = %q, want %q", r.str("msg"), codeMsg[w.code])
	}
	return r
}

func TestGatewayCommonChecks(t *testing.T) {
	f := newFixture(t)
	keyA, stranger := testKey(t, "app_a"), testKey(t, "stranger")
	biz := map[string]string{"certify_id": "0123456789abcdef0123456789abcdef"}
	resign := func(v url.Values, key string) url.Values {
		v.Del("sign")
		s, err := signRSA2(testKey(t, key), []byte(signatureBase(v)))
		if err != nil {
			t.Fatal(err)
		}
		v.Set("sign", s)
		return v
	}
	tests := []struct {
		name   string
		params func() url.Values
		want   want
	}{
		{"valid request reaches the method", func() url.Values {
			return f.signed(t, appA, keyA, methodCertQuery, nil, biz)
		}, want{code: codeBusiness, subCode: "OPEN_CERTIFY_BILL_NOT_EXIST"}},
		{"missing method", func() url.Values {
			v := f.signed(t, appA, keyA, methodCertQuery, nil, biz)
			v.Del("method")
			return v
		}, want{node: "error_response", code: codeMissing, subCode: "isv.missing-method"}},
		{"unknown method", func() url.Values {
			return f.signed(t, appA, keyA, "alipay.trade.pay", nil, biz)
		}, want{node: "error_response", code: codeInvalid, subCode: "isv.invalid-method"}},
		{"missing app_id", func() url.Values {
			v := f.signed(t, appA, keyA, methodCertQuery, nil, biz)
			v.Del("app_id")
			return v
		}, want{code: codeMissing, subCode: "isv.missing-app-id", unsigned: true}},
		{"unknown app_id", func() url.Values {
			return f.signed(t, "2021009999999999", keyA, methodCertQuery, nil, biz)
		}, want{code: codeInvalid, subCode: "isv.invalid-app-id", unsigned: true}},
		{"missing sign", func() url.Values {
			v := f.signed(t, appA, keyA, methodCertQuery, nil, biz)
			v.Del("sign")
			return v
		}, want{code: codeMissing, subCode: "isv.missing-signature"}},
		{"missing sign_type", func() url.Values {
			v := f.signed(t, appA, keyA, methodCertQuery, nil, biz)
			v.Del("sign_type")
			return resign(v, "app_a")
		}, want{code: codeMissing, subCode: "isv.missing-signature-type"}},
		{"RSA (SHA1) sign_type", func() url.Values {
			v := f.signed(t, appA, keyA, methodCertQuery, nil, biz)
			v.Set("sign_type", "RSA")
			return resign(v, "app_a")
		}, want{code: codeInvalid, subCode: "isv.invalid-signature-type"}},
		{"missing timestamp", func() url.Values {
			v := f.signed(t, appA, keyA, methodCertQuery, nil, biz)
			v.Del("timestamp")
			return resign(v, "app_a")
		}, want{code: codeMissing, subCode: "isv.missing-timestamp"}},
		{"timestamp in another format", func() url.Values {
			v := f.signed(t, appA, keyA, methodCertQuery, nil, biz)
			v.Set("timestamp", f.clock.Now().Format(time.RFC3339))
			return resign(v, "app_a")
		}, want{code: codeInvalid, subCode: "isv.invalid-timestamp"}},
		{"timestamp in UTC wall time (8 hours off)", func() url.Values {
			v := f.signed(t, appA, keyA, methodCertQuery, nil, biz)
			v.Set("timestamp", f.clock.Now().UTC().Format(timeFormat))
			return resign(v, "app_a")
		}, want{code: codeInvalid, subCode: "isv.invalid-timestamp"}},
		{"timestamp 14 minutes ahead", func() url.Values {
			v := f.signed(t, appA, keyA, methodCertQuery, nil, biz)
			v.Set("timestamp", f.clock.Now().Add(14*time.Minute).In(beijing).Format(timeFormat))
			return resign(v, "app_a")
		}, want{code: codeBusiness, subCode: "OPEN_CERTIFY_BILL_NOT_EXIST"}},
		{"missing version", func() url.Values {
			v := f.signed(t, appA, keyA, methodCertQuery, nil, biz)
			v.Del("version")
			return resign(v, "app_a")
		}, want{code: codeMissing, subCode: "isv.missing-version"}},
		{"version 2.0", func() url.Values {
			v := f.signed(t, appA, keyA, methodCertQuery, nil, biz)
			v.Set("version", "2.0")
			return resign(v, "app_a")
		}, want{code: codeInvalid, subCode: "isv.invalid-parameter"}},
		{"charset GBK", func() url.Values {
			v := f.signed(t, appA, keyA, methodCertQuery, nil, biz)
			v.Set("charset", "GBK")
			return resign(v, "app_a")
		}, want{code: codeInvalid, subCode: "isv.invalid-charset"}},
		{"no charset and no format (optional)", func() url.Values {
			v := f.signed(t, appA, keyA, methodCertQuery, nil, biz)
			v.Del("charset")
			v.Del("format")
			return resign(v, "app_a")
		}, want{code: codeBusiness, subCode: "OPEN_CERTIFY_BILL_NOT_EXIST"}},
		{"format XML", func() url.Values {
			v := f.signed(t, appA, keyA, methodCertQuery, nil, biz)
			v.Set("format", "XML")
			return resign(v, "app_a")
		}, want{code: codeInvalid, subCode: "isv.invalid-format"}},
		{"signed with a stranger's key", func() url.Values {
			return f.signed(t, appA, stranger, methodCertQuery, nil, biz)
		}, want{code: codeInvalid, subCode: "isv.invalid-signature"}},
		{"signed with the other app's key", func() url.Values {
			return f.signed(t, appA, testKey(t, "app_b"), methodCertQuery, nil, biz)
		}, want{code: codeInvalid, subCode: "isv.invalid-signature"}},
		{"tampered after signing", func() url.Values {
			v := f.signed(t, appA, keyA, methodCertQuery, nil, biz)
			v.Set("biz_content", `{"certify_id":"ffffffffffffffffffffffffffffffff"}`)
			return v
		}, want{code: codeInvalid, subCode: "isv.invalid-signature"}},
		{"signature over a base without sign_type", func() url.Values {
			v := f.signed(t, appA, keyA, methodCertQuery, nil, biz)
			st := v.Get("sign_type")
			v.Del("sign_type")
			v.Del("sign")
			s, err := signRSA2(keyA, []byte(signatureBase(v)))
			if err != nil {
				t.Fatal(err)
			}
			v.Set("sign_type", st)
			v.Set("sign", s)
			return v
		}, want{code: codeInvalid, subCode: "isv.invalid-signature"}},
		{"content encryption asked", func() url.Values {
			v := f.signed(t, appA, keyA, methodCertQuery, map[string]string{"encrypt_type": "AES"}, biz)
			return v
		}, want{code: codeInvalid, subCode: "isv.decryption-error-not-valid-encrypt-key"}},
		{"ISV app_auth_token", func() url.Values {
			return f.signed(t, appA, keyA, methodCertQuery, map[string]string{"app_auth_token": "202601BBxxxx"}, biz)
		}, want{code: codeTokenPerm, subCode: "aop.invalid-app-auth-token"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.params()
			method := v.Get("method")
			if method == "" {
				method = methodCertQuery
			}
			check(t, f, f.post(t, v), method, tc.want)
		})
	}
}

func TestInvalidSignatureQuotesTheVerifiedString(t *testing.T) {
	f := newFixture(t)
	v := f.signed(t, appA, testKey(t, "stranger"), methodOauthToken, map[string]string{"grant_type": "authorization_code", "code": "c0de"}, nil)
	r := check(t, f, f.post(t, v), methodOauthToken, want{code: codeInvalid, subCode: "isv.invalid-signature"})
	base := "app_id=" + appA + "&charset=utf-8&code=c0de&format=JSON&grant_type=authorization_code&method=alipay.system.oauth.token&sign_type=RSA2&timestamp=" + v.Get("timestamp") + "&version=1.0"
	if got := r.str("sub_msg"); got != invalidSignaturePrefix+base {
		t.Fatalf("sub_msg = %q\nwant %q", got, invalidSignaturePrefix+base)
	}
}

func TestGatewayTransport(t *testing.T) {
	f := newFixture(t)
	keyA := testKey(t, "app_a")
	biz := map[string]string{"certify_id": "0123456789abcdef0123456789abcdef"}
	notExist := want{code: codeBusiness, subCode: "OPEN_CERTIFY_BILL_NOT_EXIST"}

	t.Run("GET with every parameter in the query", func(t *testing.T) {
		v := f.signed(t, appA, keyA, methodCertQuery, nil, biz)
		resp, err := f.srv.Client().Get(f.gatewayURL() + "?" + v.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if ct := resp.Header.Get("Content-Type"); ct != "application/json;charset=utf-8" {
			t.Fatalf("Content-Type = %q", ct)
		}
		check(t, f, b, methodCertQuery, notExist)
	})
	t.Run("common parameters in the query, biz_content in the body", func(t *testing.T) {
		v := f.signed(t, appA, keyA, methodCertQuery, nil, biz)
		body := url.Values{"biz_content": {v.Get("biz_content")}}
		v.Del("biz_content")
		resp, err := f.srv.Client().Post(f.gatewayURL()+"?"+v.Encode(), "application/x-www-form-urlencoded;charset=utf-8", strings.NewReader(body.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		check(t, f, b, methodCertQuery, notExist)
	})
	t.Run("a parameter given twice", func(t *testing.T) {
		v := f.signed(t, appA, keyA, methodCertQuery, nil, biz)
		v.Add("app_id", appB)
		check(t, f, f.post(t, v), methodCertQuery, want{node: "error_response", code: codeInvalid, subCode: "isv.invalid-parameter"})
	})
	t.Run("PUT is refused", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPut, f.gatewayURL(), nil)
		resp, err := f.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("slashes are escaped in the signed bytes", func(t *testing.T) {
		code := f.login(t, appA, scopeUser, "c001")
		tok := f.token(t, appA, "app_a", code)
		r := check(t, f, f.post(t, f.signed(t, appA, keyA, methodUserInfo, map[string]string{"auth_token": tok}, nil)), methodUserInfo, want{code: codeSuccess})
		if !strings.Contains(string(r.raw), `"avatar":"http:\/\/`) {
			t.Fatalf("avatar URL not escaped as the real gateway does: %s", r.raw)
		}
	})
}

func TestPublishedPublicKey(t *testing.T) {
	f := newFixture(t)
	resp, err := f.srv.Client().Get(f.srv.URL + "/" + HostOpenAPI + PublicKeyPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if string(b) != f.sim.AlipayPublicKeyPEM() {
		t.Fatal("published key differs from AlipayPublicKeyPEM")
	}
	pub, err := parsePublicKey(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(&testKey(t, "sandbox").PublicKey) {
		t.Fatal("published key is not the data folder's key")
	}
}

func TestInjectedFaults(t *testing.T) {
	f := newFixture(t)
	keyA := testKey(t, "app_a")
	biz := map[string]string{"certify_id": "0123456789abcdef0123456789abcdef"}
	tests := []struct {
		code string
		want want
	}{
		{"20000", want{code: codeUnavailable, subCode: "isp.unknow-error"}},
		{"40005", want{code: codeCallLimit, subCode: "isv.app-call-limited"}},
		{"20001", want{code: codeTokenPerm, subCode: "aop.invalid-auth-token"}},
		{"40003", want{code: codeConditions, subCode: "sandbox.injected-fault"}},
		{"isp.unknow-error", want{code: codeUnavailable, subCode: "isp.unknow-error"}},
		{"aop.auth-token-time-out", want{code: codeTokenPerm, subCode: "aop.auth-token-time-out"}},
		{"isv.method-call-limited", want{code: codeCallLimit, subCode: "isv.method-call-limited"}},
		{"ACQ.SYSTEM_ERROR", want{code: codeBusiness, subCode: "ACQ.SYSTEM_ERROR"}},
	}
	for _, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			f.faults.Add(fault.Rule{Vendor: vendor, Path: "/gateway.do", Code: tc.code, Count: 1})
			check(t, f, f.post(t, f.signed(t, appA, keyA, methodCertQuery, nil, biz)), methodCertQuery, tc.want)
			// The rule is used up: the next request is served normally.
			check(t, f, f.post(t, f.signed(t, appA, keyA, methodCertQuery, nil, biz)), methodCertQuery, want{code: codeBusiness, subCode: "OPEN_CERTIFY_BILL_NOT_EXIST"})
		})
	}
	t.Run("http_500 and garbage", func(t *testing.T) {
		for _, c := range []string{fault.HTTP500, fault.Garbage} {
			f.faults.Add(fault.Rule{Vendor: vendor, Code: c, Count: 1})
			v := f.signed(t, appA, keyA, methodCertQuery, nil, biz)
			resp, err := f.srv.Client().PostForm(f.gatewayURL(), v)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if c == fault.HTTP500 && resp.StatusCode != http.StatusInternalServerError {
				t.Fatalf("%s: status %d", c, resp.StatusCode)
			}
			if c == fault.Garbage && (resp.StatusCode != http.StatusOK || strings.HasPrefix(string(b), "{\"")) {
				t.Fatalf("%s: status %d body %q", c, resp.StatusCode, b)
			}
		}
	})
}

func TestOauthToken(t *testing.T) {
	f := newFixture(t)
	keyA, keyB := testKey(t, "app_a"), testKey(t, "app_b")
	tokenReq := func(appID string, key string, params map[string]string) []byte {
		k := keyA
		if key == "b" {
			k = keyB
		}
		return f.post(t, f.signed(t, appID, k, methodOauthToken, params, nil))
	}
	badCode := want{node: "error_response", code: codeInvalid, subCode: "isv.code-invalid"}

	code := f.login(t, appA, scopeUser, "c001")
	first := check(t, f, tokenReq(appA, "a", map[string]string{"grant_type": "authorization_code", "code": code}), methodOauthToken, want{})
	for _, k := range []string{"access_token", "refresh_token", "user_id", "open_id", "auth_start"} {
		if first.str(k) == "" {
			t.Fatalf("%s missing: %s", k, first.raw)
		}
	}
	if !regexp.MustCompile(`^2088\d{12}$`).MatchString(first.str("user_id")) {
		t.Fatalf("user_id %q", first.str("user_id"))
	}
	if first.fields["expires_in"] == nil || first.fields["re_expires_in"] == nil {
		t.Fatalf("lifetimes missing: %s", first.raw)
	}
	if !strings.HasPrefix(string(first.raw), `{"access_token":`) {
		t.Fatalf("members are not in key order: %s", first.raw)
	}

	tests := []struct {
		name   string
		app    string
		key    string
		params func() map[string]string
		want   want
	}{
		{"reused code", appA, "a", func() map[string]string {
			return map[string]string{"grant_type": "authorization_code", "code": code}
		}, badCode},
		{"unknown code", appA, "a", func() map[string]string {
			return map[string]string{"grant_type": "authorization_code", "code": "ca34ea491e7146cc87d25fca24c4cD11"}
		}, badCode},
		{"code of another app", appB, "b", func() map[string]string {
			return map[string]string{"grant_type": "authorization_code", "code": f.login(t, appA, scopeUser, "c002")}
		}, badCode},
		{"expired code", appA, "a", func() map[string]string {
			c := f.login(t, appA, scopeUser, "c002")
			f.clock.Advance(authCodeTTL + time.Second)
			return map[string]string{"grant_type": "authorization_code", "code": c}
		}, badCode},
		{"bad grant_type", appA, "a", func() map[string]string {
			return map[string]string{"grant_type": "password", "code": code}
		}, want{node: "error_response", code: codeInvalid, subCode: "isv.grant-type-invalid"}},
		{"refresh", appA, "a", func() map[string]string {
			return map[string]string{"grant_type": "refresh_token", "refresh_token": first.str("refresh_token")}
		}, want{}},
		{"refresh token used twice", appA, "a", func() map[string]string {
			return map[string]string{"grant_type": "refresh_token", "refresh_token": first.str("refresh_token")}
		}, want{node: "error_response", code: codeInvalid, subCode: "isv.refreshed-token-invalid"}},
		{"unknown refresh token", appA, "a", func() map[string]string {
			return map[string]string{"grant_type": "refresh_token", "refresh_token": "authusrB00"}
		}, want{node: "error_response", code: codeInvalid, subCode: "isv.refresh-token-invalid"}},
		{"expired refresh token", appA, "a", func() map[string]string {
			r := parseResponse(t, &testKey(t, "sandbox").PublicKey, tokenReq(appA, "a", map[string]string{"grant_type": "authorization_code", "code": f.login(t, appA, scopeUser, "c003")}))
			f.clock.Advance(refreshTokenTTL + time.Second)
			return map[string]string{"grant_type": "refresh_token", "refresh_token": r.str("refresh_token")}
		}, want{node: "error_response", code: codeInvalid, subCode: "isv.refresh-token-time-out"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check(t, f, tokenReq(tc.app, tc.key, tc.params()), methodOauthToken, tc.want)
		})
	}
}

func TestUserIDsAreStablePerCitizen(t *testing.T) {
	f := newFixture(t)
	keyA, keyB := testKey(t, "app_a"), testKey(t, "app_b")
	ids := func(appID string, key string, holder string) (string, string) {
		k := keyA
		if appID == appB {
			k = keyB
		}
		r := parseResponse(t, &testKey(t, "sandbox").PublicKey, f.post(t, f.signed(t, appID, k, methodOauthToken,
			map[string]string{"grant_type": "authorization_code", "code": f.login(t, appID, scopeBase, holder)}, nil)))
		return r.str("user_id"), r.str("open_id")
	}
	u1, o1 := ids(appA, "a", "c001")
	u2, o2 := ids(appA, "a", "c001")
	u3, o3 := ids(appB, "b", "c001")
	u4, _ := ids(appA, "a", "c002")
	if u1 != u2 || o1 != o2 {
		t.Fatal("ids change between logins")
	}
	if u1 != u3 {
		t.Fatal("user_id differs between apps")
	}
	if o1 == o3 {
		t.Fatal("open_id is the same for two apps")
	}
	if u1 == u4 {
		t.Fatal("two citizens share a user_id")
	}
	if len(o1) != 46 || o1[0] != '0' {
		t.Fatalf("open_id %q", o1)
	}
}

func TestUserInfoShare(t *testing.T) {
	f := newFixture(t)
	keyA, keyB := testKey(t, "app_a"), testKey(t, "app_b")
	tokA := f.token(t, appA, "app_a", f.login(t, appA, scopeUser, "c035"))
	tokB := f.token(t, appB, "app_b", f.login(t, appB, scopeUser, "c002"))
	tokBase := f.token(t, appA, "app_a", f.login(t, appA, scopeBase, "c001"))
	share := func(appID, tok string) []byte {
		k := keyA
		if appID == appB {
			k = keyB
		}
		return f.post(t, f.signed(t, appID, k, methodUserInfo, map[string]string{"auth_token": tok}, nil))
	}

	t.Run("app with the real-name permission", func(t *testing.T) {
		r := check(t, f, share(appA, tokA), methodUserInfo, want{code: codeSuccess})
		c := f.citizen(t, "c035")
		for k, v := range map[string]string{
			"user_name": c.RegistryName, "cert_no": c.IDNumber, "cert_type": "0", "mobile": c.Phone,
			"province": "湖南省", "city": "长沙市", "gender": "M", "is_certified": "T",
		} {
			if r.str(k) != v {
				t.Errorf("%s = %q, want %q", k, r.str(k), v)
			}
		}
		if !strings.HasPrefix(string(r.raw), `{"code":"10000","msg":"Success","avatar":`) {
			t.Errorf("member order: %s", r.raw)
		}
	})
	t.Run("app without it", func(t *testing.T) {
		r := check(t, f, share(appB, tokB), methodUserInfo, want{code: codeSuccess})
		for _, k := range []string{"user_name", "cert_no", "cert_type", "mobile"} {
			if _, present := r.fields[k]; present {
				t.Errorf("%s present without the permission", k)
			}
		}
		if r.str("gender") != "F" || r.str("user_id") == "" || r.str("nick_name") == "" {
			t.Errorf("fields: %s", r.raw)
		}
	})
	tests := []struct {
		name string
		app  string
		tok  func() string
		want want
	}{
		{"unknown token", appA, func() string { return "authusrB0000" }, want{code: codeTokenPerm, subCode: "aop.invalid-auth-token"}},
		{"missing token", appA, func() string { return "" }, want{code: codeTokenPerm, subCode: "aop.invalid-auth-token"}},
		{"another app's token", appA, func() string { return tokB }, want{code: codeTokenPerm, subCode: "aop.invalid-auth-token"}},
		{"auth_base token", appA, func() string { return tokBase }, want{code: codePermission, subCode: "isv.insufficient-user-permissions"}},
		{"expired token", appA, func() string {
			f.clock.Advance(accessTokenTTL + time.Second)
			return tokA
		}, want{code: codeTokenPerm, subCode: "aop.auth-token-time-out"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check(t, f, share(tc.app, tc.tok()), methodUserInfo, tc.want)
		})
	}
}

func TestNewValidatesApps(t *testing.T) {
	pub := readTestdata(t, "app_a_public.pem")
	tests := []struct {
		name string
		apps []App
	}{
		{"short app id", []App{{AppID: "2021", AppPublicKeyPEM: pub}}},
		{"letters in app id", []App{{AppID: "2021abcd00000001", AppPublicKeyPEM: pub}}},
		{"duplicate app id", []App{{AppID: appA, AppPublicKeyPEM: pub}, {AppID: appA, AppPublicKeyPEM: pub}}},
		{"bad key", []App{{AppID: appA, AppPublicKeyPEM: "not a key"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(simenvForTest(t), tc.apps); err == nil {
				t.Fatal("New accepted bad apps")
			}
		})
	}
	t.Run("bare base64 key as the console shows it", func(t *testing.T) {
		bare := strings.Join(strings.Split(strings.TrimSpace(pub), "\n")[1:len(strings.Split(strings.TrimSpace(pub), "\n"))-1], "")
		if _, err := New(simenvForTest(t), []App{{AppID: appA, AppPublicKeyPEM: bare}}); err != nil {
			t.Fatal(err)
		}
	})
}
