package wechat

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/handle"
)

const callback = "http://127.0.0.1:8080/login/wechat/callback"

// beginScan starts a QR session at the stub (whose page is the real one).
func beginScan(t *testing.T, p *Provider, state string) sdk.ScanSession {
	t.Helper()
	ss, err := p.BeginScan(context.Background(), sdk.BeginScanRequest{CallbackURL: callback, State: state})
	if err != nil {
		t.Fatalf("BeginScan: %v", err)
	}
	return ss
}

func TestBeginScanPages(t *testing.T) {
	cases := []struct {
		name       string
		page       answer
		uuid       string
		kind       sdk.Kind
		vendorCode string
		fields     []string
	}{
		{name: "real page, relative src", page: fx("qrconnect/real.html"), uuid: "001ZDsw64Vu7ll2E"},
		{name: "sandbox page, absolute src", page: fx("qrconnect/sandbox.html"), uuid: "Xq3v_9kLm2Pz8wRt"},
		{name: "AppID 参数错误", page: fx("qrconnect/error_appid.html"), kind: sdk.InvalidConfig, vendorCode: "appid", fields: []string{"app_id"}},
		{name: "redirect_uri 参数错误", page: fx("qrconnect/error_redirect_uri.html"), kind: sdk.InvalidConfig, vendorCode: "redirect_uri"},
		{name: "Scope 参数错误", page: fx("qrconnect/error_scope.html"), kind: sdk.InvalidConfig, vendorCode: "scope"},
		{name: "another page", page: fx("qrconnect/error_other.html"), kind: sdk.VendorUnavailable, vendorCode: "http_200"},
		{name: "garbage", page: fx("garbage.txt"), kind: sdk.VendorUnavailable, vendorCode: "http_200"},
		{name: "HTTP 502", page: status(http.StatusBadGateway, "html_502.html"), kind: sdk.VendorUnavailable, vendorCode: "http_502"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, c := newStub(t), newFixedClock()
			s.on(routeQRConnect, tc.page)
			p := s.provider(c, nil)
			ss, err := p.BeginScan(context.Background(), sdk.BeginScanRequest{CallbackURL: callback, State: "st1"})
			if tc.kind != sdk.KindUnknown {
				wantErr(t, err, tc.kind, tc.vendorCode, tc.fields...)
				return
			}
			if err != nil {
				t.Fatalf("BeginScan: %v", err)
			}
			if want := s.srv.URL + "/open.weixin.qq.com/connect/confirm?uuid=" + tc.uuid; ss.QRContent != want {
				t.Errorf("QRContent = %q, want %q", ss.QRContent, want)
			}
			if want := c.Now().Add(DefaultQRTTL); !ss.ExpiresAt.Equal(want) {
				t.Errorf("ExpiresAt = %v, want %v", ss.ExpiresAt, want)
			}
			var h scanHandle
			st, _ := p.state()
			if !st.handles.Open(handleScan, st.cfg.appID, ss.UUID, &h) || h.UUID != tc.uuid || h.State != "st1" {
				t.Errorf("handle %q opens to %+v", ss.UUID, h)
			}
			if strings.Contains(ss.UUID, tc.uuid) {
				t.Errorf("handle %q shows the vendor uuid in clear", ss.UUID)
			}
		})
	}
}

func TestBeginScanRefusesBadRequests(t *testing.T) {
	cases := []struct {
		name   string
		req    sdk.BeginScanRequest
		fields []string
	}{
		{"no callback", sdk.BeginScanRequest{State: "s"}, []string{"callback_url"}},
		{"relative callback", sdk.BeginScanRequest{CallbackURL: "/cb"}, []string{"callback_url"}},
		{"ftp callback", sdk.BeginScanRequest{CallbackURL: "ftp://gw.example/cb"}, []string{"callback_url"}},
		{"state over 128 bytes", sdk.BeginScanRequest{CallbackURL: callback, State: strings.Repeat("a", 129)}, []string{"state"}},
		{"both", sdk.BeginScanRequest{State: strings.Repeat("a", 129)}, []string{"callback_url", "state"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStub(t)
			_, err := s.provider(newFixedClock(), nil).BeginScan(context.Background(), tc.req)
			wantErr(t, err, sdk.InvalidRequest, "", tc.fields...)
			if n := s.count(routeQRConnect); n != 0 {
				t.Errorf("WeChat was asked %d times", n)
			}
		})
	}
}

func TestPollScanAnswers(t *testing.T) {
	cases := []struct {
		name       string
		lp         answer
		state      sdk.ScanState
		code       string
		kind       sdk.Kind
		vendorCode string
	}{
		{name: "408 waiting", lp: fx("lp/408.js"), state: sdk.ScanWaiting},
		{name: "404 scanned", lp: fx("lp/404.js"), state: sdk.ScanScanned},
		{name: "405 confirmed", lp: fx("lp/405.js"), state: sdk.ScanConfirmed, code: "0316Ri0w3ce0Y53ZZW0w31oTHr26Ri0X"},
		{name: "403 cancelled", lp: fx("lp/403.js"), state: sdk.ScanCancelled},
		{name: "402 expired", lp: fx("lp/402.js"), state: sdk.ScanExpired},
		{name: "400 unknown uuid", lp: fx("lp/400.js"), kind: sdk.UUIDInvalid, vendorCode: "400"},
		{name: "45011 rate limited", lp: fx("lp/45011.js"), kind: sdk.RateLimited, vendorCode: "45011"},
		{name: "-1 busy", lp: fx("lp/-1.js"), kind: sdk.VendorUnavailable, vendorCode: "-1"},
		{name: "405 without code", lp: fx("lp/405_no_code.js"), kind: sdk.VendorUnavailable, vendorCode: "405"},
		{name: "garbage", lp: fx("garbage.txt"), kind: sdk.VendorUnavailable, vendorCode: "http_200"},
		{name: "a JSON error", lp: errcodeFixture(-1), kind: sdk.VendorUnavailable, vendorCode: "http_200"},
		{name: "HTTP 500", lp: status(http.StatusInternalServerError, "garbage.txt"), kind: sdk.VendorUnavailable, vendorCode: "http_500"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, c := newStub(t), newFixedClock()
			p := s.provider(c, nil)
			ss := beginScan(t, p, "st1")
			s.on(routeLongPoll, tc.lp)
			st, err := p.PollScan(context.Background(), ss.UUID)
			if tc.kind != sdk.KindUnknown {
				wantErr(t, err, tc.kind, tc.vendorCode)
				return
			}
			if err != nil || st.State != tc.state || st.Code != tc.code {
				t.Fatalf("PollScan = %+v, %v; want %v %q", st, err, tc.state, tc.code)
			}
		})
	}
}

func TestPollScanRequest(t *testing.T) {
	s, c := newStub(t), newFixedClock()
	p := s.provider(c, nil)
	ss := beginScan(t, p, "st1")
	if _, err := p.PollScan(context.Background(), ss.UUID); err != nil {
		t.Fatal(err)
	}
	reqs := s.requests()
	last := reqs[len(reqs)-1]
	if last.Path != routeLongPoll || last.Query["uuid"] != "001ZDsw64Vu7ll2E" || len(last.Query) != 2 {
		t.Fatalf("long-poll request %+v", last)
	}
	if _, has := last.Query["last"]; has {
		t.Error("the long-poll must not send last (it would hold the request)")
	}
	if want := strconv.FormatInt(c.Now().UnixMilli(), 10); last.Query["_"] != want {
		t.Errorf("_ = %q, want the clock in milliseconds %s", last.Query["_"], want)
	}
}

func TestPollScanHandles(t *testing.T) {
	s, c := newStub(t), newFixedClock()
	p := s.provider(c, nil)
	ss := beginScan(t, p, "st1")
	other := s.provider(c, map[string]string{"app_id": "wx0000000000000000"})
	foreign := beginScan(t, other, "st1")
	rekeyed := s.provider(c, map[string]string{"handle_key": "HyAdHBsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA="})
	tampered := []byte(ss.UUID)
	tampered[len(tampered)-3] ^= 1
	cases := []struct {
		name   string
		p      *Provider
		handle string
	}{
		{"empty", p, ""},
		{"not a handle", p, "providertest-unknown-0f3c9a"},
		{"the vendor uuid itself", p, "001ZDsw64Vu7ll2E"},
		{"tampered", p, string(tampered)},
		{"another app's", p, foreign.UUID},
		{"another handle_key's", rekeyed, ss.UUID},
		{"too long", p, strings.Repeat("A", handle.MaxLen+1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := s.count(routeLongPoll)
			_, err := tc.p.PollScan(context.Background(), tc.handle)
			wantErr(t, err, sdk.UUIDInvalid, "")
			_, err = tc.p.ExchangeCode(context.Background(), tc.handle, "code")
			wantErr(t, err, sdk.UUIDInvalid, "")
			_, err = tc.p.ScanCallback(context.Background(), tc.handle, map[string]string{"code": "c", "state": "st1"})
			wantErr(t, err, sdk.UUIDInvalid, "")
			if s.count(routeLongPoll) != before || s.count(routeAccessToken) != 0 {
				t.Error("WeChat was asked about a handle that is not ours")
			}
		})
	}
	t.Run("long expired", func(t *testing.T) {
		c.Advance(DefaultQRTTL + pollGrace + time.Second)
		st, err := p.PollScan(context.Background(), ss.UUID)
		if err != nil || st.State != sdk.ScanExpired {
			t.Fatalf("PollScan = %+v, %v; want expired", st, err)
		}
		if n := s.count(routeLongPoll); n != 0 {
			t.Errorf("WeChat was asked %d times about a long-expired session", n)
		}
	})
}

func TestScanCallback(t *testing.T) {
	s := newStub(t)
	p := s.provider(newFixedClock(), nil)
	ss := beginScan(t, p, "st1")
	empty := beginScan(t, p, "")
	cases := []struct {
		name   string
		handle string
		query  map[string]string
		state  sdk.ScanState
		code   string
		fields []string
	}{
		{"confirmed", ss.UUID, map[string]string{"code": "0316Ri0w3ce0Y53ZZW0w31oTHr26Ri0X", "state": "st1"}, sdk.ScanConfirmed, "0316Ri0w3ce0Y53ZZW0w31oTHr26Ri0X", nil},
		{"refused: state without code", ss.UUID, map[string]string{"state": "st1"}, sdk.ScanCancelled, "", nil},
		{"refused: empty code", ss.UUID, map[string]string{"code": "", "state": "st1"}, sdk.ScanCancelled, "", nil},
		{"no state given at begin", empty.UUID, map[string]string{"code": "abc"}, sdk.ScanConfirmed, "abc", nil},
		{"another state", ss.UUID, map[string]string{"code": "abc", "state": "st2"}, 0, "", []string{"state"}},
		{"state missing", ss.UUID, map[string]string{"code": "abc"}, 0, "", []string{"state"}},
		{"malformed code", ss.UUID, map[string]string{"code": "a b", "state": "st1"}, 0, "", []string{"code"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, err := p.ScanCallback(context.Background(), tc.handle, tc.query)
			if tc.fields != nil {
				wantErr(t, err, sdk.InvalidRequest, "", tc.fields...)
				return
			}
			if err != nil || st.State != tc.state || st.Code != tc.code {
				t.Fatalf("ScanCallback = %+v, %v; want %v %q", st, err, tc.state, tc.code)
			}
		})
	}
}

func TestExchangeCodeErrcodes(t *testing.T) {
	cases := []struct {
		code   int
		kind   sdk.Kind
		fields []string
	}{
		{40163, sdk.CodeReused, nil},
		{40029, sdk.CodeInvalid, nil},
		{42003, sdk.Expired, nil},
		{41008, sdk.InvalidRequest, []string{"code"}},
		{40001, sdk.InvalidConfig, []string{"app_secret"}},
		{40125, sdk.InvalidConfig, []string{"app_secret"}},
		{41004, sdk.InvalidConfig, []string{"app_secret"}},
		{40013, sdk.InvalidConfig, []string{"app_id"}},
		{41002, sdk.InvalidConfig, []string{"app_id"}},
		{40164, sdk.InvalidConfig, []string{}},
		{40066, sdk.InvalidConfig, []string{"api_base"}},
		{48001, sdk.InvalidConfig, []string{}},
		{40002, sdk.Internal, nil},
		{45011, sdk.RateLimited, nil},
		{45009, sdk.RateLimited, nil},
		{-1, sdk.VendorUnavailable, nil},
		{40226, sdk.VendorUnavailable, nil}, // not mapped: kept as vendor code
	}
	for _, tc := range cases {
		t.Run(errcodeName(tc.code), func(t *testing.T) {
			s := newStub(t)
			p := s.provider(newFixedClock(), nil)
			ss := beginScan(t, p, "st1")
			s.on(routeAccessToken, errcodeFixture(tc.code))
			_, err := p.ExchangeCode(context.Background(), ss.UUID, "0316Ri0w3ce0Y53ZZW0w31oTHr26Ri0X")
			wantErr(t, err, tc.kind, errcodeName(tc.code), tc.fields...)
			if s.count(routeUserInfo) != 0 {
				t.Error("userinfo asked after a failed exchange")
			}
		})
	}
	for _, tc := range []struct {
		name string
		a    answer
		want string
	}{
		{"garbage", fx("garbage.txt"), "http_200"},
		{"HTML 502", status(http.StatusBadGateway, "html_502.html"), "http_502"},
		{"no openid", fx("api/getverifyid.json"), "http_200"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStub(t)
			p := s.provider(newFixedClock(), nil)
			ss := beginScan(t, p, "st1")
			s.on(routeAccessToken, tc.a)
			_, err := p.ExchangeCode(context.Background(), ss.UUID, "c")
			wantErr(t, err, sdk.VendorUnavailable, tc.want)
		})
	}
}

func errcodeName(code int) string { return strconv.Itoa(code) }

func TestExchangeCodeIdentity(t *testing.T) {
	const openID, unionID = "oLVPpjqs9BhvzwPj5A-vTYAX3GLc", "o6_bmasdasdsad6_2sgVt7hMZOPfL"
	cases := []struct {
		name     string
		token    answer
		userinfo answer
		subject  string
		ids      map[string]string
		nickname string
	}{
		{"unionid and profile", fx("api/oauth2_access_token.json"), fx("api/sns_userinfo.json"), unionID,
			map[string]string{"openid": openID, "unionid": unionID}, "晨光"},
		{"unionid from the profile", fx("api/oauth2_access_token_no_unionid.json"), fx("api/sns_userinfo.json"), unionID,
			map[string]string{"openid": openID, "unionid": unionID}, "晨光"},
		{"no unionid at all", fx("api/oauth2_access_token_no_unionid.json"), errcodeFixture(48001), openID,
			map[string]string{"openid": openID}, ""},
		{"profile refused", fx("api/oauth2_access_token.json"), errcodeFixture(40001), unionID,
			map[string]string{"openid": openID, "unionid": unionID}, ""},
		{"profile garbage", fx("api/oauth2_access_token.json"), fx("garbage.txt"), unionID,
			map[string]string{"openid": openID, "unionid": unionID}, ""},
		{"profile of another openid", fx("api/oauth2_access_token_no_unionid.json"), fx("api/sns_userinfo_other_openid.json"), openID,
			map[string]string{"openid": openID}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStub(t)
			p := s.provider(newFixedClock(), nil)
			ss := beginScan(t, p, "st1")
			s.on(routeAccessToken, tc.token)
			s.on(routeUserInfo, tc.userinfo)
			id, err := p.ExchangeCode(context.Background(), ss.UUID, "0316Ri0w3ce0Y53ZZW0w31oTHr26Ri0X")
			if err != nil {
				t.Fatalf("ExchangeCode: %v", err)
			}
			if id.Subject != tc.subject || id.DisplayName != tc.nickname || id.Level != 0 || id.Name != "" || id.IDNumber != "" {
				t.Errorf("identity %+v, want subject %q name %q and no real name", id, tc.subject, tc.nickname)
			}
			if len(id.SubjectIDs) != len(tc.ids) {
				t.Errorf("SubjectIDs = %v, want %v", id.SubjectIDs, tc.ids)
			}
			for k, v := range tc.ids {
				if id.SubjectIDs[k] != v {
					t.Errorf("SubjectIDs = %v, want %v", id.SubjectIDs, tc.ids)
				}
			}
		})
	}
}

func TestExchangeCodeRefusesEmptyCode(t *testing.T) {
	s := newStub(t)
	p := s.provider(newFixedClock(), nil)
	ss := beginScan(t, p, "st1")
	_, err := p.ExchangeCode(context.Background(), ss.UUID, "")
	wantErr(t, err, sdk.InvalidRequest, "", "code")
	if s.count(routeAccessToken) != 0 {
		t.Error("WeChat was asked to exchange an empty code")
	}
}

func TestNotConfigured(t *testing.T) {
	p := New(WithLogger(quiet()))
	ctx := context.Background()
	_, err := p.BeginScan(ctx, sdk.BeginScanRequest{CallbackURL: callback})
	wantErr(t, err, sdk.InvalidConfig, "")
	_, err = p.QueryFace(ctx, "x")
	wantErr(t, err, sdk.InvalidConfig, "")
}
