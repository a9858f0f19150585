package journeytest

import (
	"net/url"
	"strings"

	"github.com/shiming-id/shiming/plugins/sdk"
)

// The helpers below drive a browser through the journeys the way a
// candidate does, failing the test when a page is not the expected one.

// Expect fails the test unless p is the page name at status 200.
func (b *Browser) Expect(p *Page, name string) *Page {
	b.T.Helper()
	if p.Status != 200 || p.Name() != name {
		b.T.Fatalf("%s: status %d page %q (step %q, kinds %v), want page %q\n%s", p.URL, p.Status, p.Name(), p.Step(), p.ErrorKinds(), name, excerpt(p.Body))
	}
	return p
}

func excerpt(s string) string {
	if i := strings.Index(s, "<main"); i >= 0 {
		s = s[i:]
	}
	if len(s) > 1500 {
		s = s[:1500]
	}
	return s
}

// FlowBase returns the flow's URL prefix ("/p/realname/{flow}/") of a
// journey page.
func FlowBase(p *Page) string {
	parts := strings.Split(strings.Trim(p.URL.Path, "/"), "/")
	if len(parts) < 3 {
		return ""
	}
	return "/" + strings.Join(parts[:3], "/") + "/"
}

// StartRealName goes from the portal to the QR page of provider.
func (h *Harness) StartRealName(b *Browser, portal, provider string) *Page {
	b.T.Helper()
	b.Expect(b.Get("/"+portal+"/realname/"), "realname_intro")
	p := b.Expect(b.Post("/"+portal+"/realname/start", nil), "realname_choose")
	return b.Expect(b.Post(p.URL.Path, url.Values{"provider": {provider}}), "qr")
}

// Status lets the poll interval pass and asks the QR page's status.
func (h *Harness) Status(b *Browser, statusURL string) Status {
	b.T.Helper()
	h.Clock.Advance(h.Config.RealName.ScanPollInterval.D())
	var s Status
	if code := b.JSON(statusURL, &s); code != 200 {
		b.T.Fatalf("status %s: %d", statusURL, code)
	}
	return s
}

// ConfirmScan confirms the newest QR session of provider on the phone as
// id, lets the page's poll see it and submits the QR page as its script
// does. It returns the page that follows.
func (h *Harness) ConfirmScan(b *Browser, qrPage *Page, provider string, id sdk.Identity) *Page {
	b.T.Helper()
	v := h.Providers.Scan[provider]
	s, ok := v.ByQR(qrPage.QR())
	if !ok {
		b.T.Fatalf("the QR page shows %q, which %s did not issue", qrPage.QR(), provider)
	}
	if _, err := v.Confirm(s.UUID, id); err != nil {
		b.T.Fatal(err)
	}
	st := h.Status(b, qrPage.Attr("status-url"))
	if st.Phase != "done" {
		b.T.Fatalf("status after confirm: %+v", st)
	}
	return b.Post(qrPage.URL.Path, nil)
}

// Identity submits 实名登录.
func (h *Harness) Identity(b *Browser, base string, p Person) *Page {
	b.T.Helper()
	return b.Post(base+"identity", url.Values{"name": {p.Name}, "id_number": {p.IDNumber}})
}

// BindPhone sends a code to phone and submits it; it returns the page
// after the code.
func (h *Harness) BindPhone(b *Browser, base, phone string) *Page {
	b.T.Helper()
	p := b.Expect(b.Post(base+"phone", url.Values{"action": {"send"}, "phone": {phone}}), "realname_phone")
	if p.Attr("sms-sent") != "1" {
		b.T.Fatalf("no code sent: kinds %v", p.ErrorKinds())
	}
	code, ok := h.Providers.SMS["sms"].LastCode(phone)
	if !ok {
		b.T.Fatal("the SMS fake sent nothing")
	}
	return b.Post(base+"phone", url.Values{"action": {"verify"}, "phone": {phone}, "code": {code}})
}

// PassFace starts the face verification at faceURL, passes it at the
// fake face vendor and lets the page move on; it returns the next page.
func (h *Harness) PassFace(b *Browser, faceURL, faceProvider string) *Page {
	b.T.Helper()
	p := b.Expect(b.Post(faceURL, url.Values{"action": {"start"}}), "qr")
	f := h.Providers.Face[faceProvider]
	info, ok := f.Latest()
	if !ok || info.QR != p.QR() {
		b.T.Fatalf("face QR %q is not the fake's newest (%q)", p.QR(), info.QR)
	}
	if err := f.Pass(info.CertifyID); err != nil {
		b.T.Fatal(err)
	}
	h.Clock.Advance(h.Config.RealName.ScanPollInterval.D())
	return b.Post(faceURL, url.Values{"action": {"check"}})
}

// SetPassword submits the password step.
func (h *Harness) SetPassword(b *Browser, base, pw string) *Page {
	b.T.Helper()
	return b.Post(base+"password", url.Values{"password": {pw}, "password2": {pw}})
}

// RegisterPerson runs a whole real-name registration of p on portal with
// a scan provider and returns the page it ends on (the login page).
func (h *Harness) RegisterPerson(b *Browser, portal, provider string, p Person, pw string) *Page {
	b.T.Helper()
	qr := h.StartRealName(b, portal, provider)
	base := FlowBase(qr)
	b.Expect(h.ConfirmScan(b, qr, provider, p.Identity(provider)), "realname_identity")
	b.Expect(h.Identity(b, base, p), "realname_phone")
	b.Expect(h.BindPhone(b, base, p.Phone), "face")
	face := h.Config.RealName.Face[provider]
	if face == "" {
		face = h.Config.RealName.Face["default"]
	}
	b.Expect(h.PassFace(b, base+"face", face), "realname_password")
	return b.Expect(h.SetPassword(b, base, pw), "login")
}
