package realname_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	jt "github.com/shiming-id/shiming/gateway/journey/journeytest"
)

// TestFaceStepOfRegistration pins what registration gives the shared face
// step: the WeChat openid as the subject and the face page as the return
// URL, a new session id once "我已完成" sees the face passed, and the poll
// sent on to 设置密码.
func TestFaceStepOfRegistration(t *testing.T) {
	h := jt.New(t, jt.Options{})
	b := h.Browser()
	qr := h.StartRealName(b, "hunanpea", "wechat")
	base := jt.FlowBase(qr)
	b.Expect(h.ConfirmScan(b, qr, "wechat", jt.ZhangWei.Identity("wechat")), "realname_identity")
	b.Expect(h.Identity(b, base, jt.ZhangWei), "realname_phone")
	b.Expect(h.BindPhone(b, base, jt.ZhangWei.Phone), "face")

	b.Expect(b.Post(base+"face", url.Values{"action": {"start"}}), "qr")
	face := h.Providers.Face["wechat"]
	info, _ := face.Latest()
	if want := "o" + jt.ZhangWei.Identity("wechat").Subject; info.Request.Subject != want {
		t.Errorf("face subject %q, want the openid %q", info.Request.Subject, want)
	}
	if !strings.HasSuffix(info.Request.ReturnURL, base+"face") || info.Request.Name != jt.ZhangWei.Name {
		t.Errorf("face request %+v", info.Request)
	}
	must(t, face.Pass(info.CertifyID))
	h.Clock.Advance(h.Config.RealName.ScanPollInterval.D())

	before := cookie(h, b)
	b.Expect(b.Post(base+"face", url.Values{"action": {"check"}}), "realname_password")
	if after := cookie(h, b); after == "" || after == before {
		t.Error("passing the face kept the session id")
	}
	var st jt.Status
	if code := b.JSON(base+"face/status", &st); code != http.StatusOK || st.Phase != "passed" || st.Next != base+"password" {
		t.Errorf("face status after passing: %d %+v", code, st)
	}
}

func cookie(h *jt.Harness, b *jt.Browser) string {
	u, _ := url.Parse(h.URL)
	for _, c := range b.Client.Jar.Cookies(u) {
		if c.Name == h.Sessions.CookieName() {
			return c.Value
		}
	}
	return ""
}
