// Package candidate plays exam candidates against a running Shiming over
// HTTP, the way the guide tells them to proceed: a desktop browser with
// its own cookies walks real-name registration (WeChat, Alipay or CTID),
// signs in with the password and walks the exam's nine registration
// steps, while the sandbox's virtual phone scans the QR codes, passes the
// face checks and receives the SMS codes. The load simulator
// (contrib/loadtest) and the multi-replica test (gateway/e2e/ha) drive it.
package candidate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/sandboxclient"
)

// Defaults of Env.
const (
	DefaultPortal     = "hunanpea"
	DefaultExam       = "hn2022gwy"
	DefaultPosition   = "0100101"
	DefaultTimeout    = 30 * time.Second
	DefaultStatusPoll = 1500 * time.Millisecond // what the QR page's script does
)

// Desktop and phone user agents. The gateway shows a "use a computer"
// page to phones on its portal pages, and phones open vendor callbacks.
const (
	DesktopUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
	PhoneUA   = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 AlipayClient/10.6.0"
)

// Env is what the candidates of one run share.
type Env struct {
	// Gateway is the base URL browsers use (the gateway's public_url).
	Gateway string
	// Sandbox plays the phone and injects the faults of Trouble.
	Sandbox *sandboxclient.Client
	// Portal, Exam and Position are where candidates register; defaults
	// are the sample exam's.
	Portal, Exam, Position string
	// Transport is shared by every candidate's browser (connection
	// reuse); each candidate has its own cookies. Nil means a new
	// http.Transport per Env.
	Transport http.RoundTripper
	// Timeout bounds each request (default 30 s).
	Timeout time.Duration
	// StatusPoll is the pause between two status polls of a QR page
	// (default 1.5 s, as the page's script); the first poll follows the
	// phone at once.
	StatusPoll time.Duration
	// Think is a pause before every step after the first (default none).
	Think time.Duration
	// Observe, if set, is called after every step with its duration and
	// error, from the candidate's goroutine.
	Observe func(step string, d time.Duration, err error)
}

func (e *Env) withDefaults() {
	if e.Portal == "" {
		e.Portal = DefaultPortal
	}
	if e.Exam == "" {
		e.Exam = DefaultExam
	}
	if e.Position == "" {
		e.Position = DefaultPosition
	}
	if e.Timeout <= 0 {
		e.Timeout = DefaultTimeout
	}
	if e.StatusPoll <= 0 {
		e.StatusPoll = DefaultStatusPoll
	}
	if e.Transport == nil {
		e.Transport = &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second}
	}
	e.Gateway = strings.TrimSuffix(e.Gateway, "/")
}

// Candidate is one person at one desktop browser. Use it from one
// goroutine.
type Candidate struct {
	env      Env
	Person   Person
	Password string
	// Number is the registration number (报名序号) once Apply succeeds.
	Number string

	browser *http.Client
	phone   *http.Client
	steps   int
}

// New returns a candidate playing p with a fresh browser (no cookies).
func New(env Env, p Person) (*Candidate, error) {
	env.withDefaults()
	if env.Gateway == "" || env.Sandbox == nil {
		return nil, errors.New("candidate: the gateway URL and the sandbox are required")
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	return &Candidate{
		env: env, Person: p, Password: password(p),
		browser: &http.Client{Jar: jar, Transport: env.Transport, Timeout: env.Timeout},
		phone:   &http.Client{Transport: env.Transport, Timeout: env.Timeout},
	}, nil
}

// password is a password the policy accepts, different for everyone and
// free of the person's number and phone.
func password(p Person) string {
	sum := sha256.Sum256([]byte(p.IDNumber + "\x00" + p.Phone))
	return "Kq7!" + hex.EncodeToString(sum[:6])
}

// StepError is a step that did not end where it should.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return e.Step + ": " + e.Err.Error() }
func (e *StepError) Unwrap() error { return e.Err }

// PageError is an unexpected page: a status other than 200, or another
// page than the one the step leads to.
type PageError struct {
	Status int
	Path   string
	Page   string   // data-page
	Kinds  []string // data-error-kind values
	Want   string
}

func (e *PageError) Error() string {
	return fmt.Sprintf("got %d %s (page %q, kinds %v), want %s", e.Status, e.Path, e.Page, e.Kinds, e.Want)
}

// step runs one step, timing it and telling Observe.
func (c *Candidate) step(ctx context.Context, name string, fn func() error) error {
	if c.steps > 0 && c.env.Think > 0 {
		if err := Sleep(ctx, c.env.Think); err != nil {
			return &StepError{Step: name, Err: err}
		}
	}
	c.steps++
	start := time.Now()
	err := fn()
	if c.env.Observe != nil {
		c.env.Observe(name, time.Since(start), err)
	}
	if err != nil {
		return &StepError{Step: name, Err: err}
	}
	return nil
}

// Sleep waits d, or until ctx ends (its error).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Page is a response as the candidate reads it.
type Page struct {
	Status int
	URL    *url.URL
	Body   string
}

var attrRE = regexp.MustCompile(`data-([a-z-]+)="([^"]*)"`)

// Attrs returns every data-<name> value of the page, in order.
func (p *Page) Attrs(name string) []string {
	var out []string
	for _, m := range attrRE.FindAllStringSubmatch(p.Body, -1) {
		if m[1] == name {
			out = append(out, html.UnescapeString(m[2]))
		}
	}
	return out
}

// Attr returns the first data-<name> value, or "".
func (p *Page) Attr(name string) string {
	if v := p.Attrs(name); len(v) > 0 {
		return v[0]
	}
	return ""
}

// Name is the page's data-page.
func (p *Page) Name() string { return p.Attr("page") }

// Kinds are the non-empty data-error-kind values.
func (p *Page) Kinds() []string {
	var out []string
	for _, k := range p.Attrs("error-kind") {
		if k != "" {
			out = append(out, k)
		}
	}
	return out
}

func (p *Page) err(want string) error {
	return &PageError{Status: p.Status, Path: p.URL.Path, Page: p.Name(), Kinds: p.Kinds(), Want: want}
}

// expect checks that p is the named gateway page.
func expect(p *Page, name string) (*Page, error) {
	if p.Status != http.StatusOK || p.Name() != name {
		return p, p.err("page " + name)
	}
	return p, nil
}

// expectPath checks that p (a registration page, which has no data-page)
// ended at a path with the given suffix.
func expectPath(p *Page, suffix string) (*Page, error) {
	if p.Status != http.StatusOK || !strings.HasSuffix(p.URL.Path, suffix) {
		return p, p.err("path …" + suffix)
	}
	return p, nil
}

func (c *Candidate) abs(path string) string {
	if strings.HasPrefix(path, "http://") || strings.HasPrefix(path, "https://") {
		return path
	}
	return c.env.Gateway + path
}

func (c *Candidate) do(req *http.Request) (*Page, error) {
	req.Header.Set("User-Agent", DesktopUA)
	req.Header.Set("Accept-Language", "zh-CN,zh;q=0.9")
	resp, err := c.browser.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	return &Page{Status: resp.StatusCode, URL: resp.Request.URL, Body: string(b)}, nil
}

// Get fetches a page (a path on the gateway or an absolute URL),
// following redirects.
func (c *Candidate) Get(ctx context.Context, path string) (*Page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.abs(path), nil)
	if err != nil {
		return nil, err
	}
	return c.do(req)
}

// Post submits a form as a same-origin page does, following the redirect.
func (c *Candidate) Post(ctx context.Context, path string, form url.Values) (*Page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.abs(path), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", c.env.Gateway)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return c.do(req)
}

// openOnPhone opens a link in the phone's browser (no desktop cookies), as
// after confirming an Alipay login.
func (c *Candidate) openOnPhone(ctx context.Context, link string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", PhoneUA)
	resp, err := c.phone.Do(req)
	if err != nil {
		return fmt.Errorf("phone opens the callback: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("phone opens the callback: %s", resp.Status)
	}
	return nil
}
