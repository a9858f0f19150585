package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/handle"
)

// seedFiles adds every fixture matching pattern to f.
func seedFiles(f *testing.F, pattern string) {
	files, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixtures match %s: %v", pattern, err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzParseLongPoll(f *testing.F) {
	seedFiles(f, "lp/*.js")
	f.Add([]byte("window.wx_errcode = 404 ;\n"))
	f.Add([]byte("window.wx_errcode=405;window.wx_code='a\\'b';"))
	f.Fuzz(func(t *testing.T, body []byte) {
		errcode, code, ok := parseLongPoll(body)
		if !ok {
			return
		}
		again := fmt.Sprintf("window.wx_errcode=%d;window.wx_code='%s';", errcode, code)
		e2, c2, ok2 := parseLongPoll([]byte(again))
		if !ok2 || e2 != errcode || c2 != code {
			t.Fatalf("%q parsed to %d %q, which renders to %q and parses to %d %q %v", body, errcode, code, again, e2, c2, ok2)
		}
	})
}

func FuzzParseQRConnectPage(f *testing.F) {
	seedFiles(f, "qrconnect/*.html")
	f.Add([]byte(`<img src='/connect/qrcode/a' class=js_qrcode_img>`))
	f.Add([]byte(`<IMG CLASS="x js_qrcode_img" SRC="https://open.weixin.qq.com/connect/qrcode/4Y0N_jyVQg==">`))
	f.Fuzz(func(t *testing.T, page []byte) {
		uuid, err := parseQRConnectPage(page)
		switch {
		case err == nil && !uuidRE.MatchString(uuid):
			t.Fatalf("uuid %q from %q", uuid, page)
		case err != nil && err.Kind != sdk.InvalidConfig && err.Kind != sdk.VendorUnavailable:
			t.Fatalf("page %q: kind %v", page, err.Kind)
		}
	})
}

// FuzzDecodeAnswers feeds every JSON answer type the same bytes: decoding
// never panics, refuses what is not a JSON object as VendorUnavailable,
// and every errcode and verify_ret classifies to a known kind.
func FuzzDecodeAnswers(f *testing.F) {
	seedFiles(f, "api/*.json")
	seedFiles(f, "errcode/*.json")
	f.Add([]byte(`null`))
	f.Add([]byte(`{"errcode":"40001"}`))
	f.Add([]byte(`{"verify_ret":1e400}`))
	st := &state{cfg: config{appID: "wx1"}}
	f.Fuzz(func(t *testing.T, body []byte) {
		answers := []coded{&oauthToken{}, &userInfo{}, &serverTokenAnswer{}, &getVerifyIDAnswer{}, &queryVerifyInfoAnswer{}, &apiStatus{}}
		for _, a := range answers {
			err := decodeAPI(body, a, "fuzz")
			if err != nil {
				if sdk.KindOf(err) != sdk.VendorUnavailable {
					t.Fatalf("%T from %q: %v", a, body, err)
				}
				continue
			}
			if a.code() != 0 {
				for ep := epOAuthToken; ep <= epLongPoll; ep++ {
					if e := st.apiError(ep, a.code(), "fuzz"); e.Kind == sdk.KindUnknown || e.VendorCode == "" {
						t.Fatalf("errcode %d on endpoint %d: %+v", a.code(), ep, e)
					}
				}
			}
			if q, ok := a.(*queryVerifyInfoAnswer); ok {
				fs, err := faceStatus(q.VerifyRet)
				if err == nil && (fs.Result < sdk.FacePending || fs.Result > sdk.FaceFailed) {
					t.Fatalf("verify_ret %d: %+v", q.VerifyRet, fs)
				}
				if err == nil && fs.Result == sdk.FaceFailed && fs.Reason == sdk.KindUnknown {
					t.Fatalf("verify_ret %d failed without a reason", q.VerifyRet)
				}
			}
		}
	})
}

// FuzzHandles checks that handles round-trip whatever they carry and that
// no other string opens.
func FuzzHandles(f *testing.F) {
	f.Add("001ZDsw64Vu7ll2E", "st1", int64(1795773600), "wxs1.AAAA")
	f.Add("", "", int64(-1), "")
	f.Add("4Y0N_jyVQg==", "状态\x00", int64(0), "wxs1."+string(make([]byte, 40)))
	sl, err := handle.NewSealer(make([]byte, 32), handleLabel)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, uuid, state string, expires int64, forged string) {
		in := scanHandle{UUID: uuid, State: state, Expires: expires}
		h, err := sl.Seal(handleScan, "wx1", in)
		if errors.Is(err, handle.ErrTooLong) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		var out scanHandle
		if !sl.Open(handleScan, "wx1", h, &out) {
			t.Fatalf("handle of %+v does not open", in)
		}
		if utf8.ValidString(uuid) && utf8.ValidString(state) && out != in {
			t.Fatalf("handle of %+v opens to %+v", in, out)
		}
		var x scanHandle
		if forged != h && sl.Open(handleScan, "wx1", forged, &x) {
			t.Fatalf("forged handle %q opened to %+v", forged, x)
		}
	})
}

func FuzzConfigure(f *testing.F) {
	f.Add(`{"app_id":"wx1","app_secret":"s","handle_key":"` + testKey + `"}`)
	f.Add(`{"api_base":1,"qr_ttl":"1h","http_timeout":"-1s"}`)
	f.Add(`null`)
	f.Fuzz(func(t *testing.T, config string) {
		err := New(WithLogger(quiet())).Configure(context.Background(), json.RawMessage(config))
		if err != nil && sdk.KindOf(err) != sdk.InvalidConfig {
			t.Fatalf("Configure(%q) = %v, want nil or InvalidConfig", config, err)
		}
	})
}
