package candidate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/sandboxclient"
)

// Trouble is what goes wrong for a candidate on purpose, through the
// sandbox's fault injection or the person chosen. The gateway is meant
// to heal each without the candidate doing more than scanning again.
type Trouble struct {
	// CodeReused: WeChat refuses the code exchange with 40163 once.
	CodeReused bool
	// StaleQR: WeChat's long poll reports the QR expired once.
	StaleQR bool
	// Mismatch: the name/ID check fails (4003), and the candidate takes
	// the CTID path the mismatch page offers. A person with a
	// RegistryName fails it by themselves; for anyone else the check is
	// made to fail once.
	Mismatch bool
}

// FaultNameMismatch makes the CTID platform's name/ID check (两要素)
// answer 4003 (姓名和身份证号码不匹配) once.
var FaultNameMismatch = sandboxclient.Fault{Vendor: "ctid", Path: "/v1/verification", Code: "4003", Count: 1}

// maxRescans bounds how often one scan step may see a fresh QR code.
const maxRescans = 6

// waitLimit bounds how long a candidate waits on one QR code.
const waitLimit = 90 * time.Second

// Status is a QR page's status-poll answer.
type Status struct {
	State     string `json:"state"`
	Message   string `json:"message"`
	ErrorKind string `json:"error_kind"`
	QRVersion int    `json:"qr_version"`
	Next      string `json:"next"`
}

// flowBase returns "/p/realname/{flow}/" of a journey page.
func flowBase(p *Page) string {
	parts := strings.Split(strings.Trim(p.URL.Path, "/"), "/")
	if len(parts) < 3 {
		return ""
	}
	return "/" + strings.Join(parts[:3], "/") + "/"
}

// StartRealName goes from the portal's 获取实名认证 page to the QR page
// of provider (steps open, start, choose) and returns it.
func (c *Candidate) StartRealName(ctx context.Context, provider string) (*Page, error) {
	base := "/" + c.env.Portal + "/realname/"
	if err := c.step(ctx, "open", func() error {
		p, err := c.Get(ctx, base)
		if err == nil {
			_, err = expect(p, "realname_intro")
		}
		return err
	}); err != nil {
		return nil, err
	}
	var choose *Page
	if err := c.step(ctx, "start", func() error {
		p, err := c.Post(ctx, base+"start", nil)
		if err == nil {
			choose, err = expect(p, "realname_choose")
		}
		return err
	}); err != nil {
		return nil, err
	}
	var qr *Page
	err := c.step(ctx, "choose", func() error {
		p, err := c.Post(ctx, choose.URL.Path, url.Values{"provider": {provider}})
		if err == nil {
			qr, err = expect(p, "qr")
		}
		return err
	})
	return qr, err
}

// RealName walks 获取实名认证 to the end with provider: scan, 实名登录,
// bind the phone, face verification, password. It ends on the portal's
// login page with the account created.
func (c *Candidate) RealName(ctx context.Context, provider string, t Trouble) error {
	qr, err := c.StartRealName(ctx, provider)
	if err != nil {
		return err
	}
	base := flowBase(qr)
	var page *Page
	if err := c.step(ctx, "scan", func() error {
		var err error
		page, err = c.scan(ctx, qr, provider, t)
		return err
	}); err != nil {
		return err
	}
	if _, err := expect(page, "realname_identity"); err != nil {
		return &StepError{Step: "scan", Err: err}
	}
	if t.Mismatch && c.Person.RegistryName == "" {
		if err := c.env.Sandbox.AddFault(ctx, FaultNameMismatch); err != nil {
			return &StepError{Step: "identity", Err: err}
		}
	}
	if err := c.step(ctx, "identity", func() error {
		var err error
		page, err = c.Post(ctx, base+"identity", url.Values{"name": {c.Person.Name}, "id_number": {c.Person.IDNumber}})
		return err
	}); err != nil {
		return err
	}
	if page.Name() == "realname_mismatch" {
		// 姓名和身份证号码不匹配: take the CTID path the page offers.
		if err := c.step(ctx, "ctid_switch", func() error {
			p, err := c.Post(ctx, base+"ctid", nil)
			if err == nil {
				page, err = expect(p, "qr")
			}
			if err == nil {
				page, err = c.scan(ctx, page, "ctid", Trouble{})
			}
			if err == nil {
				_, err = expect(page, "realname_identity")
			}
			if err == nil {
				page, err = c.Post(ctx, base+"identity", url.Values{"name": {c.Person.Name}, "id_number": {c.Person.IDNumber}})
			}
			return err
		}); err != nil {
			return err
		}
	}
	if _, err := expect(page, "realname_phone"); err != nil {
		return &StepError{Step: "identity", Err: err}
	}
	if err := c.step(ctx, "sms_send", func() error {
		p, err := c.Post(ctx, base+"phone", url.Values{"action": {"send"}, "phone": {c.Person.Phone}})
		if err == nil {
			_, err = expect(p, "realname_phone")
		}
		if err == nil && p.Attr("sms-sent") != "1" {
			err = p.err("a sent code")
		}
		return err
	}); err != nil {
		return err
	}
	if err := c.step(ctx, "sms_verify", func() error {
		code, err := c.env.Sandbox.LastCode(ctx, c.Person.Phone)
		if err != nil {
			return err
		}
		page, err = c.Post(ctx, base+"phone", url.Values{"action": {"verify"}, "phone": {c.Person.Phone}, "code": {code}})
		return err
	}); err != nil {
		return err
	}
	if page.Name() == "face" {
		if err := c.step(ctx, "face", func() error {
			var err error
			page, err = c.face(ctx, base)
			return err
		}); err != nil {
			return err
		}
	}
	if _, err := expect(page, "realname_password"); err != nil {
		return &StepError{Step: "face", Err: err}
	}
	return c.step(ctx, "password", func() error {
		p, err := c.Post(ctx, base+"password", url.Values{"password": {c.Password}, "password2": {c.Password}})
		if err == nil {
			_, err = expect(p, "login")
		}
		if err == nil && p.URL.Query().Get("registered") != "1" {
			err = p.err("the login page after registration")
		}
		return err
	})
}

// phoneActions are what the person does on the phone with a login QR.
var phoneActions = map[string][]string{
	"wechat": {"scan", "confirm"},
	"alipay": {"scan", "confirm"},
	"ctid":   {"read"},
}

// scan does the phone's part of a login QR and waits, as the page does,
// until the gateway has the identity. A fresh QR code (the gateway healed
// a reused code, a stale or cancelled session) is scanned again. It
// returns the page after the scan.
func (c *Candidate) scan(ctx context.Context, page *Page, provider string, t Trouble) (*Page, error) {
	actions, ok := phoneActions[provider]
	if !ok {
		return nil, fmt.Errorf("no phone actions for provider %q", provider)
	}
	qrURL := flowBase(page) + "qr"
	for range maxRescans {
		if page.Attr("phase") == "failed" || page.Attr("qr") == "" {
			p, err := c.Post(ctx, qrURL, url.Values{"action": {"retry"}})
			if err != nil {
				return nil, err
			}
			if page, err = expect(p, "qr"); err != nil {
				return nil, err
			}
			continue
		}
		qr, version, statusURL := page.Attr("qr"), page.Attr("qr-version"), page.Attr("status-url")
		if t.StaleQR {
			t.StaleQR = false
			if err := c.env.Sandbox.AddFault(ctx, FaultStaleQR); err != nil {
				return nil, err
			}
		}
		for i, a := range actions {
			if t.CodeReused && i == len(actions)-1 {
				t.CodeReused = false
				if err := c.env.Sandbox.AddFault(ctx, FaultCodeReused); err != nil {
					return nil, err
				}
			}
			link, err := c.act(ctx, qr, a)
			if err != nil {
				return nil, fmt.Errorf("phone %s: %w", a, err)
			}
			if link != "" {
				if err := c.openOnPhone(ctx, link); err != nil {
					return nil, err
				}
			}
		}
		waited := time.Now()
		st, err := c.waitStatus(ctx, statusURL, version, "done")
		if err != nil {
			return nil, err
		}
		if st.State == "done" {
			return c.Get(ctx, st.Next)
		}
		// A fresh QR code (or a failure to retry): read the page again.
		// The table counts them, with the time the page took to show it.
		if c.env.Observe != nil {
			c.env.Observe("qr_renewed", time.Since(waited), nil)
		}
		if page, err = c.Get(ctx, qrURL); err != nil {
			return nil, err
		}
		if page, err = expect(page, "qr"); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("still no identity after %d QR codes", maxRescans)
}

// waitStatus polls statusURL until the state is want, the QR code
// changes from version, or the session failed.
func (c *Candidate) waitStatus(ctx context.Context, statusURL, version, want string) (Status, error) {
	deadline := time.Now().Add(waitLimit)
	for {
		st, err := c.Poll(ctx, statusURL)
		if err != nil {
			return st, err
		}
		if st.State == want || strconv.Itoa(st.QRVersion) != version || st.State == "failed" {
			return st, nil
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("waited %s on the QR code (state %s)", waitLimit, st.State)
		}
		if err := Sleep(ctx, c.env.StatusPoll); err != nil {
			return st, err
		}
	}
}

// Poll asks a QR page's status once, as the page's script does.
func (c *Candidate) Poll(ctx context.Context, statusURL string) (Status, error) {
	var st Status
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.abs(statusURL), nil)
	if err != nil {
		return st, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	p, err := c.do(req)
	if err != nil {
		return st, err
	}
	if p.Status != http.StatusOK {
		return st, p.err("a status answer")
	}
	if err := json.Unmarshal([]byte(p.Body), &st); err != nil {
		return st, fmt.Errorf("status %s: %w", p.URL.Path, err)
	}
	return st, nil
}

// face starts the face verification, passes it on the phone and lets
// the page move on (我已完成). It returns the page after it.
func (c *Candidate) face(ctx context.Context, base string) (*Page, error) {
	p, err := c.Post(ctx, base+"face", url.Values{"action": {"start"}})
	if err != nil {
		return nil, err
	}
	for range maxRescans {
		if p, err = expect(p, "qr"); err != nil {
			return nil, err
		}
		if _, err := c.act(ctx, p.Attr("qr"), "pass"); err != nil {
			return nil, fmt.Errorf("phone pass: %w", err)
		}
		st, err := c.waitStatus(ctx, p.Attr("status-url"), p.Attr("qr-version"), "passed")
		if err != nil {
			return nil, err
		}
		if st.State == "passed" {
			return c.Post(ctx, base+"face", url.Values{"action": {"check"}})
		}
		if p, err = c.Post(ctx, base+"face", url.Values{"action": {"retry"}}); err != nil {
			return nil, err
		}
	}
	return nil, errors.New("the face check never passed")
}
