package wechat

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/fault"
	"github.com/shiming-id/shiming/contrib/sandbox/phone"
)

func TestCertHashDocumentExample(t *testing.T) {
	got := certHash("IDENTITY_CARD", "张三", "310101199801011234")
	const want = "3c241f7ff324977aeb91f173bb2a7b06569e6fd784d5573db34a636d8671108b"
	if got != want {
		t.Fatalf("certHash = %s, want %s", got, want)
	}
}

func TestQRConnectPage(t *testing.T) {
	f := newFixture(t, Options{}, "")
	good := url.Values{"appid": {f.app.AppID}, "redirect_uri": {callback}, "response_type": {"code"}, "scope": {"snsapi_login"}, "state": {"s1"}}
	with := func(k, v string) url.Values {
		q := url.Values{}
		for key, vals := range good {
			q[key] = vals
		}
		q.Set(k, v)
		return q
	}
	tests := []struct {
		name string
		q    url.Values
		want string
	}{
		{"unknown appid", with("appid", "wx0000000000000000"), pageBadAppID},
		{"missing appid", with("appid", ""), pageBadAppID},
		{"wrong scope", with("scope", "snsapi_userinfo"), pageBadScope},
		{"mixed scope", with("scope", "snsapi_login,snsapi_base"), pageBadScope},
		{"wrong response_type", with("response_type", "token"), pageBadResponseType},
		{"foreign redirect domain", with("redirect_uri", "https://evil.example/cb"), pageBadRedirect},
		{"subdomain is not the domain", with("redirect_uri", "https://x.gateway.example/cb"), pageBadRedirect},
		{"port must match when registered", with("redirect_uri", "http://127.0.0.1:9999/cb"), pageBadRedirect},
		{"not http", with("redirect_uri", "javascript:alert(1)"), pageBadRedirect},
		{"registered host:port", with("redirect_uri", "http://127.0.0.1:8080/cb"), `class="qrcode lightBorder js_qrcode_img"`},
		{"good", good, `class="qrcode lightBorder js_qrcode_img"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, ctype, body := f.get(f.url(OpenHost, "/connect/qrconnect?"+tc.q.Encode()))
			if status != 200 || ctype != "text/html; charset=utf-8" {
				t.Fatalf("HTTP %d %q", status, ctype)
			}
			if !strings.Contains(body, tc.want) {
				t.Fatalf("page lacks %q:\n%s", tc.want, body)
			}
		})
	}
	t.Run("image is the full sandbox URL and a PNG", func(t *testing.T) {
		uuid := f.startLogin(f.app)
		_, _, body := f.get(f.url(OpenHost, "/connect/qrconnect?"+good.Encode()))
		if m := uuidRE.FindStringSubmatch(body); m == nil || !strings.HasPrefix(m[1], f.srv.URL+"/open.weixin.qq.com/connect/qrcode/") {
			t.Fatalf("img src is not the full sandbox URL: %v", m)
		}
		status, ctype, png := f.get(f.url(OpenHost, "/connect/qrcode/"+uuid))
		if status != 200 || ctype != "image/png" || !strings.HasPrefix(png, "\x89PNG") {
			t.Fatalf("qrcode: HTTP %d %q", status, ctype)
		}
		if status, _, _ := f.get(f.url(OpenHost, "/connect/qrcode/nosuchuuid")); status != 404 {
			t.Fatalf("unknown qrcode: HTTP %d", status)
		}
	})
}

func TestScanLoginEndToEnd(t *testing.T) {
	f := newFixture(t, Options{}, "")
	uuid := f.startLogin(f.app)
	if st, code := f.poll(uuid, ""); st != qrWaiting || code != "" {
		t.Fatalf("first poll = %d %q", st, code)
	}
	item, ok := f.sim.Lookup(context.Background(), f.sim.confirmURL(uuid))
	if !ok || item.Kind != KindScanLogin || item.State != "waiting" || len(item.Actions) != 3 {
		t.Fatalf("Lookup = %+v %v", item, ok)
	}
	if pending := f.sim.Pending(context.Background()); len(pending) != 1 || pending[0].ID != item.ID {
		t.Fatalf("Pending = %+v", pending)
	}
	if _, err := f.act(item.ID, phone.Scan, "c001"); err != nil {
		t.Fatalf("scan: %v", err)
	}
	if st, _ := f.poll(uuid, "408"); st != qrScanned {
		t.Fatalf("poll after scan = %d", st)
	}
	if _, err := f.act(item.ID, phone.Scan, "c001"); !errors.Is(err, phone.ErrNotAllowed) {
		t.Fatalf("second scan: %v", err)
	}
	if _, err := f.act(item.ID, phone.Confirm, "c001"); err != nil {
		t.Fatalf("confirm: %v", err)
	}
	st, code := f.poll(uuid, "404")
	if st != qrConfirmed || len(code) != 32 {
		t.Fatalf("poll after confirm = %d %q", st, code)
	}
	if pending := f.sim.Pending(context.Background()); len(pending) != 0 {
		t.Fatalf("confirmed login still pending: %+v", pending)
	}
	tok := f.exchange(f.app, code)
	if errcode(tok) != 0 || tok["access_token"] == "" || tok["scope"] != "snsapi_login" || tok["expires_in"] != float64(7200) {
		t.Fatalf("access_token = %v", tok)
	}
	c := f.citizen("c001")
	if tok["openid"] != f.sim.openID(f.app.AppID, c.IDNumber) || tok["unionid"] != f.sim.unionID(c.IDNumber) {
		t.Fatalf("ids = %v %v", tok["openid"], tok["unionid"])
	}
	wantErr(t, f.exchange(f.app, code), 40163)

	q := url.Values{"access_token": {tok["access_token"].(string)}, "openid": {tok["openid"].(string)}}
	if m := f.api("GET", "/sns/auth", q, nil); errcode(m) != 0 || m["errmsg"] != "ok" {
		t.Fatalf("sns/auth = %v", m)
	}
	info := f.api("GET", "/sns/userinfo", q, nil)
	if info["openid"] != tok["openid"] || info["unionid"] != tok["unionid"] || info["nickname"] == "" ||
		info["sex"] != float64(1) || info["province"] != "Hunan" || info["country"] != "CN" {
		t.Fatalf("userinfo = %v", info)
	}
	if img, _ := info["headimgurl"].(string); !strings.HasPrefix(img, f.srv.URL+"/thirdwx.qlogo.cn/") {
		t.Fatalf("headimgurl = %q", img)
	} else if status, ctype, _ := f.get(img); status != 200 || ctype != "image/png" {
		t.Fatalf("avatar: HTTP %d %q", status, ctype)
	}

	ref := f.api("GET", "/sns/oauth2/refresh_token", url.Values{"appid": {f.app.AppID}, "grant_type": {"refresh_token"},
		"refresh_token": {tok["refresh_token"].(string)}}, nil)
	if errcode(ref) != 0 || ref["access_token"] == tok["access_token"] || ref["openid"] != tok["openid"] {
		t.Fatalf("refresh = %v", ref)
	}
}

func TestLongPoll(t *testing.T) {
	t.Run("holds while unchanged and answers the change", func(t *testing.T) {
		f := newFixture(t, Options{LongPoll: time.Hour}, "")
		uuid := f.startLogin(f.app)
		got := make(chan int, 1)
		go func() {
			st, _ := f.sim.pollState(context.Background(), uuid, "408")
			got <- st
		}()
		for f.sim.heldPolls() == 0 {
			select {
			case st := <-got:
				t.Fatalf("poll answered %d without holding", st)
			default:
				time.Sleep(time.Millisecond)
			}
		}
		if _, err := f.act(itemQR+uuid, phone.Scan, "c002"); err != nil {
			t.Fatalf("scan: %v", err)
		}
		if st := <-got; st != qrScanned {
			t.Fatalf("held poll answered %d, want %d", st, qrScanned)
		}
	})
	t.Run("without last answers at once", func(t *testing.T) {
		f := newFixture(t, Options{LongPoll: time.Hour}, "")
		uuid := f.startLogin(f.app)
		if st, _ := f.poll(uuid, ""); st != qrWaiting {
			t.Fatalf("poll = %d", st)
		}
	})
	t.Run("last differing from the state answers at once", func(t *testing.T) {
		f := newFixture(t, Options{LongPoll: time.Hour}, "")
		uuid := f.startLogin(f.app)
		if _, err := f.act(itemQR+uuid, phone.Scan, "c002"); err != nil {
			t.Fatal(err)
		}
		if st, _ := f.poll(uuid, "408"); st != qrScanned {
			t.Fatalf("poll = %d", st)
		}
	})
	t.Run("hold ends with the same state", func(t *testing.T) {
		f := newFixture(t, Options{LongPoll: 20 * time.Millisecond}, "")
		uuid := f.startLogin(f.app)
		if st, _ := f.poll(uuid, "408"); st != qrWaiting {
			t.Fatalf("poll = %d", st)
		}
	})
	t.Run("unknown uuid is sandbox code 400", func(t *testing.T) {
		f := newFixture(t, Options{}, "")
		if st, code := f.poll("nosuchuuid", ""); st != qrUnknown || code != "" {
			t.Fatalf("poll = %d %q", st, code)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		f := newFixture(t, Options{}, "")
		uuid := f.startLogin(f.app)
		if _, err := f.act(itemQR+uuid, phone.Cancel, "c002"); err != nil {
			t.Fatal(err)
		}
		if st, code := f.poll(uuid, ""); st != qrCancelled || code != "" {
			t.Fatalf("poll = %d %q", st, code)
		}
		if _, err := f.act(itemQR+uuid, phone.Confirm, "c002"); !errors.Is(err, phone.ErrNotAllowed) {
			t.Fatalf("confirm after cancel: %v", err)
		}
	})
	t.Run("expiry", func(t *testing.T) {
		f := newFixture(t, Options{QRTTL: 2 * time.Minute}, "")
		uuid := f.startLogin(f.app)
		f.clock.Advance(2*time.Minute + time.Second)
		if st, _ := f.poll(uuid, "408"); st != qrExpired {
			t.Fatalf("poll = %d", st)
		}
		if _, err := f.act(itemQR+uuid, phone.Confirm, "c002"); !errors.Is(err, phone.ErrExpired) {
			t.Fatalf("confirm after expiry: %v", err)
		}
		if len(f.sim.Pending(context.Background())) != 0 {
			t.Fatal("expired login still pending")
		}
	})
}

func (s *Sim) heldPolls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.polling
}

func TestAccessTokenErrors(t *testing.T) {
	f := newFixture(t, Options{}, "")
	used := f.loginCode(f.app, "c003")
	if m := f.exchange(f.app, used); errcode(m) != 0 {
		t.Fatalf("first exchange = %v", m)
	}
	expired := f.loginCode(f.app, "c004")
	foreign := f.loginCode(f.other, "c005")
	fresh := f.loginCode(f.app, "c006")
	f.clock.Advance(4 * time.Minute)
	stillFresh := f.loginCode(f.app, "c007")
	f.clock.Advance(time.Minute + time.Second) // expired is now 5m1s old; fresh too
	tests := []struct {
		name string
		q    url.Values
		want int
	}{
		{"missing appid", url.Values{"secret": {"x"}, "code": {used}, "grant_type": {"authorization_code"}}, 41002},
		{"missing secret", url.Values{"appid": {f.app.AppID}, "code": {used}, "grant_type": {"authorization_code"}}, 41004},
		{"unknown appid", url.Values{"appid": {"wx0000000000000000"}, "secret": {"x"}, "code": {used}, "grant_type": {"authorization_code"}}, 40013},
		{"wrong secret", url.Values{"appid": {f.app.AppID}, "secret": {"nope"}, "code": {used}, "grant_type": {"authorization_code"}}, 40125},
		{"missing code", url.Values{"appid": {f.app.AppID}, "secret": {f.app.Secret}, "grant_type": {"authorization_code"}}, 41008},
		{"wrong grant_type", url.Values{"appid": {f.app.AppID}, "secret": {f.app.Secret}, "code": {used}, "grant_type": {"client_credential"}}, 40002},
		{"unknown code", url.Values{"appid": {f.app.AppID}, "secret": {f.app.Secret}, "code": {"not-a-code-issued-here"}, "grant_type": {"authorization_code"}}, 40029},
		{"another app's code", url.Values{"appid": {f.app.AppID}, "secret": {f.app.Secret}, "code": {foreign}, "grant_type": {"authorization_code"}}, 40029},
		{"used code", url.Values{"appid": {f.app.AppID}, "secret": {f.app.Secret}, "code": {used}, "grant_type": {"authorization_code"}}, 40163},
		{"expired code", url.Values{"appid": {f.app.AppID}, "secret": {f.app.Secret}, "code": {expired}, "grant_type": {"authorization_code"}}, 42003},
		{"expired fresh code", url.Values{"appid": {f.app.AppID}, "secret": {f.app.Secret}, "code": {fresh}, "grant_type": {"authorization_code"}}, 42003},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, f.api("GET", "/sns/oauth2/access_token", tc.q, nil), tc.want)
		})
	}
	if m := f.exchange(f.app, stillFresh); errcode(m) != 0 {
		t.Fatalf("code inside its lifetime = %v", m)
	}
}

func TestUserTokenErrors(t *testing.T) {
	f := newFixture(t, Options{}, "")
	tok := f.exchange(f.app, f.loginCode(f.app, "c008"))
	access, openID, refresh := tok["access_token"].(string), tok["openid"].(string), tok["refresh_token"].(string)
	base := f.sim.openID(f.app.AppID, f.citizen("c009").IDNumber)
	f.sim.mu.Lock()
	f.sim.tokens["basescope"] = &userToken{appID: f.app.AppID, openID: base, citizen: f.citizen("c009"), scope: "snsapi_base", expires: f.clock.Now().Add(time.Hour)}
	f.sim.mu.Unlock()
	tests := []struct {
		name, path string
		q          url.Values
		want       int
	}{
		{"missing token", "/sns/userinfo", url.Values{"openid": {openID}}, 41001},
		{"bad token", "/sns/userinfo", url.Values{"access_token": {"nope"}, "openid": {openID}}, 40001},
		{"missing openid", "/sns/userinfo", url.Values{"access_token": {access}}, 41009},
		{"other openid", "/sns/userinfo", url.Values{"access_token": {access}, "openid": {base}}, 40003},
		{"scope without userinfo", "/sns/userinfo", url.Values{"access_token": {"basescope"}, "openid": {base}}, 48001},
		{"auth with bad token", "/sns/auth", url.Values{"access_token": {"nope"}, "openid": {openID}}, 40001},
		{"unknown refresh token", "/sns/oauth2/refresh_token", url.Values{"appid": {f.app.AppID}, "grant_type": {"refresh_token"}, "refresh_token": {"nope"}}, 40030},
		{"refresh of another app", "/sns/oauth2/refresh_token", url.Values{"appid": {f.other.AppID}, "grant_type": {"refresh_token"}, "refresh_token": {refresh}}, 40030},
		{"refresh with unknown appid", "/sns/oauth2/refresh_token", url.Values{"appid": {"wx0"}, "grant_type": {"refresh_token"}, "refresh_token": {refresh}}, 40013},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, f.api("GET", tc.path, tc.q, nil), tc.want)
		})
	}
	f.clock.Advance(2*time.Hour + time.Second)
	wantErr(t, f.api("GET", "/sns/userinfo", url.Values{"access_token": {access}, "openid": {openID}}, nil), 42001)
	f.clock.Advance(30 * 24 * time.Hour)
	wantErr(t, f.api("GET", "/sns/oauth2/refresh_token", url.Values{"appid": {f.app.AppID}, "grant_type": {"refresh_token"}, "refresh_token": {refresh}}, nil), 42002)
}

func TestJSCode2Session(t *testing.T) {
	f := newFixture(t, Options{}, "")
	code := f.jsCode("c010")
	q := url.Values{"appid": {f.app.AppID}, "secret": {f.app.Secret}, "js_code": {code}, "grant_type": {"authorization_code"}}
	m := f.api("GET", "/sns/jscode2session", q, nil)
	c := f.citizen("c010")
	if _, has := m["errcode"]; has || m["openid"] != f.sim.openID(f.app.AppID, c.IDNumber) || m["session_key"] == "" || m["unionid"] != f.sim.unionID(c.IDNumber) {
		t.Fatalf("jscode2session = %v", m)
	}
	wantErr(t, f.api("GET", "/sns/jscode2session", q, nil), 40163)
	q.Set("js_code", "00000000000000000000000000000000")
	wantErr(t, f.api("GET", "/sns/jscode2session", q, nil), 40029)
	q.Set("secret", "wrong")
	wantErr(t, f.api("GET", "/sns/jscode2session", q, nil), 40125)
	expired := f.jsCode("c010")
	f.clock.Advance(5*time.Minute + time.Second)
	q.Set("secret", f.app.Secret)
	q.Set("js_code", expired)
	wantErr(t, f.api("GET", "/sns/jscode2session", q, nil), 40029)
	for _, p := range []string{"/sns/jsCode2Session", "/sns/JSCODE2SESSION", "/sns/", "/sns/jscode2session/x", "/nosuch"} {
		wantErr(t, f.api("GET", p, q, nil), 40066)
	}
	t.Run("mint rejects bad input", func(t *testing.T) {
		for _, body := range []string{`{}`, `{"appid":"wx0","citizen":"c001"}`, `{"appid":"` + f.app.AppID + `"}`,
			`{"appid":"` + f.app.AppID + `","citizen":"nobody"}`, `not json`, `{"appid":"` + f.app.AppID + `","citizen":"c001","extra":1}`} {
			if status, m := f.mint("/login", body); status != http.StatusBadRequest || m["error"] == nil {
				t.Errorf("%s: HTTP %d %v", body, status, m)
			}
		}
	})
	t.Run("synthetic person", func(t *testing.T) {
		status, m := f.mint("/login", `{"appid":"`+f.app.AppID+`","name":"赵六","id_number":"11010519491231002X"}`)
		if status != 200 || m["code"] == "" {
			t.Fatalf("HTTP %d %v", status, m)
		}
	})
}

func TestIDsStablePerDataFolder(t *testing.T) {
	dir := t.TempDir()
	a := newFixture(t, Options{}, dir)
	b := newFixture(t, Options{}, dir)
	c := newFixture(t, Options{}, t.TempDir())
	id := a.citizen("c001").IDNumber
	if a.sim.openID(testApp.AppID, id) != b.sim.openID(testApp.AppID, id) || a.sim.unionID(id) != b.sim.unionID(id) {
		t.Fatal("ids differ across restarts with the same data folder")
	}
	if a.sim.openID(testApp.AppID, id) == c.sim.openID(testApp.AppID, id) {
		t.Fatal("ids equal across data folders")
	}
	if a.sim.openID(testApp.AppID, id) == a.sim.openID(otherApp.AppID, id) {
		t.Fatal("openid does not depend on the app")
	}
	if o := a.sim.openID(testApp.AppID, id); len(o) != 28 || o[0] != 'o' {
		t.Fatalf("openid %q is not in WeChat's shape", o)
	}
}

func TestFaultInjection(t *testing.T) {
	f := newFixture(t, Options{}, "")
	q := url.Values{"grant_type": {"client_credential"}, "appid": {f.app.AppID}, "secret": {f.app.Secret}}
	for _, code := range []int{45011, -1, 40226} {
		f.faults.Add(fault.Rule{Vendor: Vendor, Path: "/cgi-bin/token", Code: strconv.Itoa(code), Count: 1})
		wantErr(t, f.api("GET", "/cgi-bin/token", q, nil), code)
	}
	if m := f.api("GET", "/cgi-bin/token", q, nil); errcode(m) != 0 {
		t.Fatalf("after the fault = %v", m)
	}
	f.faults.Add(fault.Rule{Vendor: Vendor, Path: "/cgi-bin/", Code: fault.HTTP500, Count: 1})
	if status, _, _ := f.get(f.url(APIHost, "/cgi-bin/token?"+q.Encode())); status != 500 {
		t.Fatalf("http_500 fault: HTTP %d", status)
	}
	f.faults.Add(fault.Rule{Vendor: Vendor, Code: fault.Garbage, Count: 1})
	if _, _, body := f.get(f.url(APIHost, "/cgi-bin/token?"+q.Encode())); strings.HasPrefix(body, "{\"") {
		t.Fatalf("garbage fault answered %q", body)
	}
	uuid := f.startLogin(f.app)
	f.faults.Add(fault.Rule{Vendor: Vendor, Path: "/connect/l/", Code: "402", Count: 1})
	if st, _ := f.poll(uuid, ""); st != qrExpired {
		t.Fatalf("injected long-poll code = %d", st)
	}
}

func TestCloseReleasesHeldPolls(t *testing.T) {
	f := newFixture(t, Options{LongPoll: time.Hour}, "")
	uuid := f.startLogin(f.app)
	got := make(chan int, 1)
	go func() {
		st, _ := f.sim.pollState(context.Background(), uuid, "408")
		got <- st
	}()
	for f.sim.heldPolls() == 0 {
		time.Sleep(time.Millisecond)
	}
	f.sim.Close()
	if st := <-got; st != qrWaiting {
		t.Fatalf("released poll answered %d", st)
	}
	f.sim.Close()
}
