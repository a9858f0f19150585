package wechat

import (
	"strings"
	"testing"

	"github.com/silenceper/wechat/v2/cache"
	miniauth "github.com/silenceper/wechat/v2/miniprogram/auth"
	miniconfig "github.com/silenceper/wechat/v2/miniprogram/config"
	minicontext "github.com/silenceper/wechat/v2/miniprogram/context"
	"github.com/silenceper/wechat/v2/officialaccount/config"
	"github.com/silenceper/wechat/v2/officialaccount/context"
	"github.com/silenceper/wechat/v2/officialaccount/oauth"
	"github.com/silenceper/wechat/v2/util"
)

// TestSilenceperInterop drives the simulator with the third-party client
// github.com/silenceper/wechat/v2, which can only be pointed elsewhere
// globally (util.SetURIModifier, util.DefaultHTTPClient); both are
// restored when the test ends. The test must not run in parallel.
func TestSilenceperInterop(t *testing.T) {
	f := newFixture(t, Options{}, "")
	oldClient := util.DefaultHTTPClient
	util.DefaultHTTPClient = f.srv.Client()
	util.SetURIModifier(func(uri string) string {
		return f.srv.URL + "/" + strings.TrimPrefix(uri, "https://")
	})
	t.Cleanup(func() {
		util.SetURIModifier(nil)
		util.DefaultHTTPClient = oldClient
	})

	t.Run("website OAuth code", func(t *testing.T) {
		o := oauth.NewOauth(&context.Context{Config: &config.Config{AppID: f.app.AppID, AppSecret: f.app.Secret, Cache: cache.NewMemory()}})
		code := f.loginCode(f.app, "c001")
		tok, err := o.GetUserAccessToken(code)
		if err != nil || tok.AccessToken == "" || tok.OpenID == "" || tok.UnionID == "" {
			t.Fatalf("first exchange: %+v %v", tok, err)
		}
		info, err := o.GetUserInfo(tok.AccessToken, tok.OpenID, "zh_CN")
		if err != nil || info.OpenID != tok.OpenID || info.Nickname == "" {
			t.Fatalf("userinfo: %+v %v", info, err)
		}
		if ok, err := o.CheckAccessToken(tok.AccessToken, tok.OpenID); err != nil || !ok {
			t.Fatalf("check token: %v %v", ok, err)
		}
		again, err := o.GetUserAccessToken(code)
		if err == nil || again.ErrCode != 40163 {
			t.Fatalf("second exchange: errcode %d, err %v; want 40163", again.ErrCode, err)
		}
		unknown, err := o.GetUserAccessToken("00000000000000000000000000000000")
		if err == nil || unknown.ErrCode != 40029 {
			t.Fatalf("unknown code: errcode %d, err %v; want 40029", unknown.ErrCode, err)
		}
	})

	t.Run("mini-program js_code", func(t *testing.T) {
		a := miniauth.NewAuth(&minicontext.Context{Config: &miniconfig.Config{AppID: f.app.AppID, AppSecret: f.app.Secret, Cache: cache.NewMemory()}})
		code := f.jsCode("c002")
		sess, err := a.Code2Session(code)
		if err != nil || sess.OpenID == "" || sess.SessionKey == "" {
			t.Fatalf("first exchange: %+v %v", sess, err)
		}
		again, err := a.Code2Session(code)
		if err == nil || again.ErrCode != 40163 {
			t.Fatalf("second exchange: errcode %d, err %v; want 40163", again.ErrCode, err)
		}
		unknown, err := a.Code2Session("00000000000000000000000000000000")
		if err == nil || unknown.ErrCode != 40029 {
			t.Fatalf("unknown js_code: errcode %d, err %v; want 40029", unknown.ErrCode, err)
		}
	})
}
