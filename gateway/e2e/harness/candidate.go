package harness

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"testing"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/sandboxclient"
	jt "github.com/shiming-id/shiming/gateway/journey/journeytest"
)

// Candidate is a desktop browser without JavaScript, driven over HTTP
// with its own cookies: the quick way to give a test an existing account
// or a signed-in session. It presses the pages' no-script buttons
// (我已扫码, 我已完成) where a browser's script would poll.
type Candidate struct {
	*jt.Browser
	Sandbox *sandboxclient.Client
}

// Candidate returns a new candidate with an empty cookie jar.
func (s *Server) Candidate(tb testing.TB) *Candidate {
	jar, err := cookiejar.New(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return &Candidate{
		Browser: &jt.Browser{T: tb, Base: s.URL, UserAgent: jt.DesktopUA, Client: &http.Client{Jar: jar, Timeout: 30 * time.Second}},
		Sandbox: s.Sandbox(),
	}
}

// Register runs a whole real-name registration of who on portal with the
// scan provider (wechat, alipay or ctid), the phone played through the
// sandbox's phone API, and returns the page it ends on: the portal's
// login page with the registered notice.
func (c *Candidate) Register(ctx context.Context, portal, provider string, who sandboxclient.Citizen, password string) *jt.Page {
	c.T.Helper()
	c.Expect(c.Get("/"+portal+"/realname/"), "realname_intro")
	choose := c.Expect(c.Post("/"+portal+"/realname/start", nil), "realname_choose")
	qr := c.Expect(c.Post(choose.Path(), url.Values{"provider": {provider}}), "qr")
	base := jt.FlowBase(qr)
	c.Expect(c.Scan(ctx, qr, provider, who), "realname_identity")
	c.Expect(c.Post(base+"identity", url.Values{"name": {who.Name}, "id_number": {who.IDNumber}}), "realname_phone")
	c.Expect(c.BindPhone(ctx, base+"phone", who.Phone), "face")
	c.Expect(c.PassFace(ctx, base+"face", who), "realname_password")
	return c.Expect(c.Post(base+"password", url.Values{"password": {password}, "password2": {password}}), "login")
}

// Scan plays the phone on a scan QR page (scan and confirm; for Alipay
// the phone's browser, without the candidate's cookies, opens the
// redirect; CTID reads the card) and presses 我已扫码 until the page
// moves on. It returns the page that follows.
func (c *Candidate) Scan(ctx context.Context, qrPage *jt.Page, provider string, who sandboxclient.Citizen) *jt.Page {
	c.T.Helper()
	qr := qrPage.QR()
	switch provider {
	case "ctid":
		c.act(ctx, qr, "read", who)
	default:
		c.act(ctx, qr, "scan", who)
		res := c.act(ctx, qr, "confirm", who)
		if res.Outcome.Redirect != "" {
			c.PhoneOpens(res.Outcome.Redirect)
		}
	}
	return c.pressUntilMoved(ctx, qrPage.Path(), "check")
}

// PhoneOpens fetches u as the phone's browser: no cookies of the
// candidate. It returns the page.
func (c *Candidate) PhoneOpens(u string) *jt.Page {
	c.T.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		c.T.Fatal(err)
	}
	phone := &jt.Browser{T: c.T, Base: c.Base, UserAgent: jt.PhoneUA, Client: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
	p := phone.Get(u)
	if p.Status != http.StatusOK {
		c.T.Fatalf("the phone's browser opening %s: HTTP %d", u, p.Status)
	}
	return p
}

// BindPhone sends a code to phone on the page at phoneURL, reads it in
// the sandbox inbox and submits it; it returns the page that follows.
func (c *Candidate) BindPhone(ctx context.Context, phoneURL, phone string) *jt.Page {
	c.T.Helper()
	since := time.Now()
	p := c.Post(phoneURL, url.Values{"action": {"send"}, "phone": {phone}})
	if p.Attr("sms-sent") != "1" {
		c.T.Fatalf("%s: no code sent (kinds %v)", p.Path(), p.ErrorKinds())
	}
	code, err := c.Sandbox.WaitCode(ctx, phone, since)
	if err != nil {
		c.T.Fatal(err)
	}
	return c.Post(phoneURL, url.Values{"action": {"verify"}, "phone": {phone}, "code": {code}})
}

// PassFace starts the face verification at faceURL, passes it on the
// phone as who and presses 我已完成 until the page moves on.
func (c *Candidate) PassFace(ctx context.Context, faceURL string, who sandboxclient.Citizen) *jt.Page {
	c.T.Helper()
	qr := c.Expect(c.Post(faceURL, url.Values{"action": {"start"}}), "qr")
	c.act(ctx, qr.QR(), "pass", who)
	return c.pressUntilMoved(ctx, faceURL, "check")
}

// SignIn logs in with the ID number and password and expects the home
// page.
func (c *Candidate) SignIn(portal string, who sandboxclient.Citizen, password string) *jt.Page {
	c.T.Helper()
	return c.Expect(c.Post("/"+portal+"/login/password", url.Values{"id_number": {who.IDNumber}, "password": {password}}), "home")
}

func (c *Candidate) act(ctx context.Context, qr, action string, who sandboxclient.Citizen) sandboxclient.ActResult {
	c.T.Helper()
	res, err := c.Sandbox.Act(ctx, qr, action, who.Key)
	if err != nil {
		c.T.Fatalf("phone %s as %s: %v", action, who.Key, err)
	}
	return res
}

// pressUntilMoved posts action to a QR page until it answers another
// page (the vendor is asked at most once per poll interval).
func (c *Candidate) pressUntilMoved(ctx context.Context, path, action string) *jt.Page {
	c.T.Helper()
	for {
		p := c.Post(path, url.Values{"action": {action}})
		if p.Status != http.StatusOK || p.Name() != "qr" || p.Path() != path {
			return p
		}
		select {
		case <-ctx.Done():
			c.T.Fatalf("%s still shows the QR page: %v (status %q)", path, ctx.Err(), p.Attr("phase"))
		case <-time.After(500 * time.Millisecond):
		}
	}
}
