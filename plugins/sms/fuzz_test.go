package sms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	sbsms "github.com/shiming-id/shiming/contrib/sandbox/sms"
	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/handle"
)

// FuzzPercentEncode compares percentEncode with the document's recipe
// (URL-encode, then + → %20; Go already leaves ~ and encodes *) and with
// the sandbox's independent implementation.
func FuzzPercentEncode(f *testing.F) {
	for _, s := range []string{"", "a b*~+", "阿里云短信测试专用", `{"code":"123456"}`, "2017-07-12T02:42:19Z", "\x00\xff%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := percentEncode(s)
		if recipe := strings.ReplaceAll(url.QueryEscape(s), "+", "%20"); got != recipe {
			t.Fatalf("percentEncode(%q) = %q, recipe gives %q", s, got, recipe)
		}
		if ref := sbsms.PercentEncode(s); got != ref {
			t.Fatalf("percentEncode(%q) = %q, sandbox gives %q", s, got, ref)
		}
		if back, err := url.PathUnescape(got); err != nil || back != s {
			t.Fatalf("percentEncode(%q) = %q does not decode back (%q, %v)", s, got, back, err)
		}
	})
}

// FuzzSignature canonicalises and signs fuzzed parameters and checks the
// result against the sandbox's verifier, and that the canonical query
// decodes back to the parameters.
func FuzzSignature(f *testing.F) {
	f.Add("PhoneNumbers", "13800001001", "TemplateParam", `{"code":"123456","minutes":"5"}`, "SignName", "实名网关", "secret", "POST")
	f.Add("a b", "*~", "", "", "Signature", "x", "", "GET")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, k3, v3, secret, method string) {
		p := url.Values{}
		for _, kv := range [][2]string{{k1, v1}, {k2, v2}, {k3, v3}} {
			p.Set(kv[0], kv[1])
		}
		if got, ref := canonicalQuery(p), sbsms.CanonicalQuery(p); got != ref {
			t.Fatalf("canonicalQuery = %q, sandbox %q", got, ref)
		}
		if got, ref := sign(method, p, secret), sbsms.Sign(method, p, secret); got != ref {
			t.Fatalf("sign = %q, sandbox %q", got, ref)
		}
		back, err := url.ParseQuery(canonicalQuery(p))
		if err != nil {
			t.Fatalf("canonical query %q: %v", canonicalQuery(p), err)
		}
		p.Del("Signature")
		for k := range p {
			if back.Get(k) != p.Get(k) {
				t.Fatalf("canonical query %q loses %q=%q", canonicalQuery(p), k, p.Get(k))
			}
		}
		if len(back) != len(p) {
			t.Fatalf("canonical query %q has %d parameters, want %d", canonicalQuery(p), len(back), len(p))
		}
	})
}

// FuzzParseAnswer feeds SendSms's answer parser any body and status: it
// never panics, succeeds only on Code OK with HTTP 200, and every refusal
// keeps a vendor code.
func FuzzParseAnswer(f *testing.F) {
	files, _ := filepath.Glob("testdata/answers/*.json")
	for _, name := range append(files, "testdata/garbage.txt", "testdata/html_502.html", "testdata/xml_ok.xml") {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(200, b)
		f.Add(400, b)
	}
	f.Add(503, []byte(`{"Code":"Throttling.Api"}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		ans, err := parseAnswer(status, body, message{what: "send code", templateField: "template_code"})
		if err == nil {
			if ans.Code != "OK" || status != http.StatusOK {
				t.Fatalf("success on status %d code %q", status, ans.Code)
			}
			return
		}
		var e *sdk.Error
		if !errors.As(err, &e) || e.VendorCode == "" || e.Kind == sdk.KindUnknown || e.Kind == sdk.Internal {
			t.Fatalf("status %d body %q: %v", status, body, err)
		}
		if !utf8.ValidString(e.VendorCode) {
			t.Fatalf("vendor code %q is not UTF-8", e.VendorCode)
		}
	})
}

// FuzzTicket checks that tickets round-trip any phone and purpose and
// that nothing else opens.
func FuzzTicket(f *testing.F) {
	f.Add("13800001001", "bind_phone", "123456", int64(1795773600), "sms1.AAAA")
	f.Add("", "", "", int64(0), "")
	ts, err := newTicketSealer(make([]byte, 32), "LTAI")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, phone, purpose, code string, expires int64, forged string) {
		in := ticket{Phone: phone, Purpose: purpose, CodeMAC: ts.codeMAC(code), Expires: expires}
		sealed, err := ts.seal(in)
		if errors.Is(err, handle.ErrTooLong) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		out, ok := ts.open(sealed)
		if !ok || !bytes.Equal(out.CodeMAC, in.CodeMAC) || out.Expires != expires {
			t.Fatalf("ticket of %+v opens to %+v, %v", in, out, ok)
		}
		if utf8.ValidString(phone) && utf8.ValidString(purpose) && (out.Phone != phone || out.Purpose != purpose) {
			t.Fatalf("ticket of %+v opens to %+v", in, out)
		}
		if forged != sealed {
			if x, ok := ts.open(forged); ok {
				t.Fatalf("forged ticket %q opened to %+v", forged, x)
			}
		}
	})
}

func FuzzConfigure(f *testing.F) {
	f.Add(`{"access_key_id":"a","access_key_secret":"s","sign_name":"签名","handle_key":"` + stubHKey + `"}`)
	f.Add(`{"code_ttl":"1h1ns","api_base":"http://[::1]:80/"}`)
	f.Fuzz(func(t *testing.T, config string) {
		err := New(WithLogger(quiet())).Configure(context.Background(), json.RawMessage(config))
		if err != nil && sdk.KindOf(err) != sdk.InvalidConfig {
			t.Fatalf("Configure(%q) = %v, want nil or InvalidConfig", config, err)
		}
	})
}
