package alipay

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	sdk "github.com/smartwalle/alipay/v3"
	"github.com/smartwalle/nsign"
)

var lowerKey = regexp.MustCompile(`^[a-z_]+$`)

// FuzzSignatureBase checks the request signature base: sign and empty
// values are left out, the rest appear once each in key order, raw; it
// agrees with smartwalle's encoder; and a signature over it verifies.
func FuzzSignatureBase(f *testing.F) {
	f.Add("app_id", "2021000000000001", "biz_content", `{"certify_id":"a/b"}`, "sign_type", "RSA2")
	f.Add("a", "", "b", "x=y&z", "sign", "zzz")
	f.Add("timestamp", "2026-03-02 09:00:00", "method", "alipay.user.info.share", "charset", "中文")
	key := testKey(f, "app_a")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, k3, v3 string) {
		v := url.Values{}
		for _, kv := range [][2]string{{k1, v1}, {k2, v2}, {k3, v3}} {
			if _, dup := v[kv[0]]; !dup {
				v.Set(kv[0], kv[1])
			}
		}
		base := signatureBase(v)
		var keys []string
		for k, x := range v {
			if k != "sign" && x[0] != "" {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		var pairs []string
		for _, k := range keys {
			pairs = append(pairs, k+"="+v.Get(k))
		}
		if want := strings.Join(pairs, "&"); base != want {
			t.Fatalf("base %q, want %q", base, want)
		}
		if lowerKey.MatchString(k1) && lowerKey.MatchString(k2) && lowerKey.MatchString(k3) {
			// For parameter names as Alipay has them, sorting key=value
			// strings (smartwalle) and sorting keys (the gateway) agree.
			nonEmpty := url.Values{}
			for _, k := range keys {
				nonEmpty.Set(k, v.Get(k))
			}
			var buf bytes.Buffer
			theirs, err := sdk.Encoder{}.EncodeValues(&buf, nonEmpty, &nsign.SignOptions{Ignores: map[string]struct{}{"sign": {}}})
			if err != nil {
				t.Fatal(err)
			}
			if base != string(theirs) {
				t.Fatalf("base %q, smartwalle %q", base, theirs)
			}
		}
		sig, err := signRSA2(key, []byte(base))
		if err != nil {
			t.Fatal(err)
		}
		if err := verifyRSA2(&key.PublicKey, []byte(base), sig); err != nil {
			t.Fatal(err)
		}
		if err := verifyRSA2(&key.PublicKey, []byte(base+"x"), sig); err == nil {
			t.Fatal("signature verifies over other bytes")
		}
	})
}

// FuzzResponseSigning checks that any node renders as JSON, node first,
// that its raw value bytes are exactly what was signed, and that the text
// survives the trip.
func FuzzResponseSigning(f *testing.F) {
	f.Add("40002", "isv.invalid-signature", "验签出错 a=b&c=<d>", "https://x/y", int64(3600), true)
	f.Add("", "", "", "\"quoted\" \\ back\u2028", int64(-1), false)
	f.Add("10000", "x", "\x00\x1f", "</script>", int64(0), true)
	key := testKey(f, "sandbox")
	f.Fuzz(func(t *testing.T, code, subCode, subMessage, text string, n int64, b bool) {
		r := result{code: code, msg: "m", subCode: subCode, subMsg: subMessage, fields: []field{{"text", text}, {"n", n}, {"b", b}}}
		value := nodeJSON(r)
		sign, err := signRSA2(key, value)
		if err != nil {
			t.Fatal(err)
		}
		body := responseBody("alipay_user_info_share_response", value, sign)
		if !bytes.HasPrefix(body, []byte(`{"alipay_user_info_share_response":`)) {
			t.Fatalf("node not first: %s", body)
		}
		var members map[string]json.RawMessage
		if err := json.Unmarshal(body, &members); err != nil {
			t.Fatalf("not JSON: %v: %s", err, body)
		}
		if !bytes.Equal(members["alipay_user_info_share_response"], value) {
			t.Fatal("the raw node differs from the signed bytes")
		}
		var gotSign string
		if err := json.Unmarshal(members["sign"], &gotSign); err != nil || verifyRSA2(&key.PublicKey, members["alipay_user_info_share_response"], gotSign) != nil {
			t.Fatalf("signature does not verify: %v", err)
		}
		var node struct {
			Code string `json:"code"`
			Text string `json:"text"`
			N    int64  `json:"n"`
			B    bool   `json:"b"`
		}
		if err := json.Unmarshal(value, &node); err != nil {
			t.Fatal(err)
		}
		if (utf8.ValidString(code) && node.Code != code) || node.N != n || node.B != b {
			t.Fatalf("node %+v", node)
		}
		if utf8.ValidString(text) && node.Text != text {
			t.Fatalf("text %q came back as %q", text, node.Text)
		}
	})
}

// FuzzGatewayRequest sends arbitrary bodies to the gateway: it never
// fails to answer in the gateway's format, and whatever it signs
// verifies.
func FuzzGatewayRequest(f *testing.F) {
	fx := newFixture(f)
	key := testKey(f, "app_a")
	f.Add(fx.signed(f, appA, key, methodCertQuery, nil, map[string]string{"certify_id": "x"}).Encode())
	f.Add(fx.signed(f, appA, key, methodOauthToken, map[string]string{"grant_type": "authorization_code", "code": "c"}, nil).Encode())
	f.Add(fx.signed(f, appA, key, methodCertInit, nil, initBiz("O1", "张伟", "430102199503141235")).Encode())
	f.Add("method=alipay.user.info.share&app_id=" + appA + "&sign=%%%")
	f.Add("method=alipay.user.certify.open.certify&app_id=" + appA)
	f.Add("a=1&a=2")
	f.Add("method=%ff")
	pub := &testKey(f, "sandbox").PublicKey
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/gateway.do", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
		rec := httptest.NewRecorder()
		fx.sim.serveGateway(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d", rec.Code)
		}
		if strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
			return // the certify page
		}
		r := parseResponse(t, pub, rec.Body.Bytes())
		if r.node != "error_response" && !strings.HasSuffix(r.node, "_response") {
			t.Fatalf("node %q", r.node)
		}
	})
}
