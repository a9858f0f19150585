package phonechange_test

import (
	"net/url"
	"testing"

	jt "github.com/shiming-id/shiming/gateway/journey/journeytest"
	"github.com/shiming-id/shiming/plugins/sdk"
)

// TestFaceStepOfPhoneChange pins what the phone change gives the shared
// face step: every failed verification counted as face_failed, its own
// words once the attempts are used up, no commit without a passed face,
// and the session id kept until the commit.
func TestFaceStepOfPhoneChange(t *testing.T) {
	h := jt.New(t, jt.Options{})
	h.CreateAccount(jt.ZhangWei, pw)
	b := h.Browser()
	base := startChange(t, b, jt.ZhangWei.IDNumber)
	b.Expect(send(b, base, "张伟", "13900005555"), "forgot_change")
	code, _ := h.Providers.SMS["sms"].LastCode("13900005555")
	b.Expect(verify(b, base, "张伟", "13900005555", code), "face")

	face := h.Providers.Face["alipay"]
	for i := range 3 {
		b.Expect(b.Post(base+"face", url.Values{"action": {"start"}}), "qr")
		info, _ := face.Latest()
		if err := face.Fail(info.CertifyID, sdk.FaceMismatch); err != nil {
			t.Fatal(err)
		}
		h.Clock.Advance(h.Config.RealName.ScanPollInterval.D())
		b.Expect(b.Post(base+"face", url.Values{"action": {"check"}}), "face")
		if got := changes(h, "face_failed"); got != float64(i+1) {
			t.Fatalf("after failure %d: face_failed %v", i+1, got)
		}
	}
	p := b.Expect(b.Post(base+"face", url.Values{"action": {"start"}}), "face")
	if !p.HasErrorKind("face_attempts") || !p.Contains("人脸识别未通过的次数已达上限，手机号码未修改。") || face.Count() != 3 {
		t.Fatalf("after three failures: %v, %d verifications", p.ErrorKinds(), face.Count())
	}
	if p := b.Post(base+"confirm", nil); p.Path() != base+"face" {
		t.Fatalf("POST confirm without a passed face ended on %s", p.URL)
	}
}

// TestFacePassKeepsTheSession: the phone change renews the session id at
// the commit, not when the face passes.
func TestFacePassKeepsTheSession(t *testing.T) {
	h := jt.New(t, jt.Options{})
	h.CreateAccount(jt.ZhangWei, pw)
	b := h.Browser()
	base := startChange(t, b, jt.ZhangWei.IDNumber)
	b.Expect(send(b, base, "张伟", "13900005555"), "forgot_change")
	code, _ := h.Providers.SMS["sms"].LastCode("13900005555")
	b.Expect(verify(b, base, "张伟", "13900005555", code), "face")
	before := sessionCookie(h, b)
	b.Expect(h.PassFace(b, base+"face", "alipay"), "forgot_confirm")
	if after := sessionCookie(h, b); after != before {
		t.Fatal("passing the face renewed the session id")
	}
}
