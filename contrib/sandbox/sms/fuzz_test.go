package sms

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/citizens"
	"github.com/shiming-id/shiming/contrib/sandbox/simenv"
)

func FuzzPercentEncode(f *testing.F) {
	for _, s := range []string{"", "a b*~", "签名", "%", "\x00\xff", `{"code":"1"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := PercentEncode(s)
		for i := 0; i < len(enc); i++ {
			c := enc[i]
			if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~%", c) >= 0) {
				t.Fatalf("PercentEncode(%q) = %q has %q", s, enc, c)
			}
		}
		dec, err := url.PathUnescape(enc)
		if err != nil || dec != s {
			t.Fatalf("PercentEncode(%q) = %q does not decode back (%q, %v)", s, enc, dec, err)
		}
	})
}

func FuzzCanonicalQuery(f *testing.F) {
	f.Add("AccessKeyId=a&Action=SendSms&Signature=x")
	f.Add("b=2&a=1&a=3&%E7%AD%BE=%20")
	f.Add("=&&=")
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		c := CanonicalQuery(p)
		parsed, err := url.ParseQuery(c)
		if err != nil {
			t.Fatalf("canonical query %q does not parse: %v", c, err)
		}
		for k := range p {
			if k == "Signature" {
				if parsed.Has("Signature") {
					t.Fatalf("Signature is signed: %q", c)
				}
				continue
			}
			if parsed.Get(k) != p.Get(k) {
				t.Fatalf("%q: %q became %q in %q", k, p.Get(k), parsed.Get(k), c)
			}
		}
		if Sign("GET", p, "s") != Sign("GET", parsed, "s") {
			t.Fatal("signature depends on more than the canonical query")
		}
	})
}

func FuzzTemplateParam(f *testing.F) {
	for _, s := range []string{"", `{"code":"1"}`, `{"code":1}`, `[]`, `null`, `{"a":"b"} x`, `{"a":{"b":"c"}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		vars, ok := parseTemplateParam(raw)
		if !ok {
			return
		}
		text, filled := render("${code}-${minutes}", vars)
		if filled && text != vars["code"]+"-"+vars["minutes"] {
			t.Fatalf("render = %q for %v", text, vars)
		}
	})
}

func FuzzServe(f *testing.F) {
	sim, err := New(simenv.Env{Now: time.Now, Citizens: citizens.Default()}, []Key{testKey}, Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("GET", "AccessKeyId=LTAItestkey000000001&Action=SendSms")
	f.Add("POST", "PhoneNumbers=13800001001&Format=XML")
	f.Add("PUT", "%zz")
	f.Fuzz(func(t *testing.T, method, query string) {
		if method != http.MethodGet && method != http.MethodPost && method != http.MethodPut {
			return
		}
		r := httptest.NewRequest(method, "/?"+url.PathEscape(query), strings.NewReader(query))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		sim.serve(w, r)
		switch w.Code {
		case 200, 400, 404, 405:
		default:
			t.Fatalf("HTTP %d for %s %q", w.Code, method, query)
		}
		if w.Code == 200 && strings.Contains(w.Body.String(), `"Code":"OK"`) {
			t.Fatalf("an unsigned request was accepted: %q", query)
		}
	})
}
