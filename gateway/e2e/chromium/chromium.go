// Package chromium runs headless Chromium for the end-to-end tests and
// drives its tabs with chromedp: every action under a deadline, every
// test in its own browser context (no cookies shared between tests), and
// a full-page screenshot and the HTML of each tab saved when a test fails.
package chromium

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// EnvPath names the Chromium binary to use; without it the first of
// chromium, chromium-browser and google-chrome on PATH is used.
const EnvPath = "SHIMING_TEST_CHROMIUM"

// EnvArtifacts names the folder that receives the screenshots and HTML
// of failed tests; without it a kept temporary folder is used.
const EnvArtifacts = "SHIMING_E2E_ARTIFACTS"

// DefaultTimeout bounds one action of a tab.
const DefaultTimeout = 30 * time.Second

// ExecPath finds the browser.
func ExecPath() (string, error) {
	if p := os.Getenv(EnvPath); p != "" {
		found, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("%s=%s is not a browser: %w", EnvPath, p, err)
		}
		return found, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no Chromium found: set %s or put chromium, chromium-browser or google-chrome on PATH", EnvPath)
}

// Require returns the browser's path; without one it skips the test, or
// fails it when CI=true.
func Require(tb testing.TB) string {
	tb.Helper()
	p, err := ExecPath()
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("CI=true: %v", err)
	}
	tb.Skipf("skipping the browser tests: %v", err)
	return ""
}

// Browser is a running Chromium.
type Browser struct {
	ctx         context.Context // the browser's first tab; parent of the sessions
	cancel      context.CancelFunc
	allocCancel context.CancelFunc
	profile     string
}

// Flags are the command-line flags the browser runs with (besides a
// fresh --user-data-dir): headless, no sandbox (CI runs as root), and
// nothing that reaches out to the network on its own.
func Flags() []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate"),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("lang", "zh-CN"),
		chromedp.WindowSize(1366, 900),
	}
}

// Launch starts the browser at execPath with a fresh profile.
func Launch(execPath string) (*Browser, error) {
	profile, err := os.MkdirTemp("", "shiming-e2e-chromium-")
	if err != nil {
		return nil, err
	}
	opts := append([]chromedp.ExecAllocatorOption{chromedp.ExecPath(execPath), chromedp.UserDataDir(profile)}, Flags()...)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &Browser{ctx: ctx, cancel: cancel, allocCancel: acancel, profile: profile}
	// The first Run binds the browser's life to its context, so it gets
	// none of its own; a watchdog bounds it instead.
	if err := within(ctx, cancel, time.Minute, func() error { return chromedp.Do(ctx) }); err != nil {
		b.Close()
		return nil, fmt.Errorf("start %s: %w", execPath, err)
	}
	return b, nil
}

// within runs f, cancelling ctx (through cancel) when it takes longer
// than d.
func within(ctx context.Context, cancel context.CancelFunc, d time.Duration, f func() error) error {
	timer := time.AfterFunc(d, cancel)
	err := f()
	if !timer.Stop() {
		return fmt.Errorf("gave up after %v: %w", d, errors.Join(err, context.DeadlineExceeded))
	}
	return err
}

// Close stops the browser and removes its profile.
func (b *Browser) Close() {
	b.cancel()
	b.allocCancel()
	os.RemoveAll(b.profile)
}

// Session is one test's browser context: like an incognito window, it
// shares no cookies or storage with other sessions. Its tabs are closed,
// and on failure photographed, when the test ends.
type Session struct {
	tb     testing.TB
	b      *Browser
	name   string
	mu     sync.Mutex
	tabs   []*Tab
	saved  string
	userUA string
}

// Session opens a fresh browser context for tb. name tells sessions of
// one test apart in the artifacts ("desktop", "phone").
func (b *Browser) Session(tb testing.TB, name string) *Session {
	s := &Session{tb: tb, b: b, name: name}
	tb.Cleanup(s.close)
	return s
}

// SetUserAgent makes the session's tabs opened afterwards send ua.
func (s *Session) SetUserAgent(ua string) { s.userUA = ua }

// Tab opens a tab in the session. The first tab creates the browser
// context; later tabs share its cookies.
func (s *Session) Tab(name string) *Tab {
	s.tb.Helper()
	s.mu.Lock()
	var ctx context.Context
	var cancel context.CancelFunc
	if len(s.tabs) == 0 {
		ctx, cancel = chromedp.NewContext(s.b.ctx, chromedp.WithNewBrowserContext())
	} else {
		ctx, cancel = chromedp.NewContext(s.tabs[0].ctx)
	}
	t := &Tab{Name: name, Timeout: DefaultTimeout, s: s, ctx: ctx, cancel: cancel}
	s.tabs = append(s.tabs, t)
	s.mu.Unlock()
	// The tab's first Run attaches it for the life of ctx: no deadline on
	// that context, a watchdog instead.
	if err := within(ctx, cancel, time.Minute, func() error { return chromedp.Do(ctx) }); err != nil {
		s.tb.Fatalf("open tab %s/%s: %v", s.name, name, err)
	}
	if s.userUA != "" {
		t.Do(t.userAgent(s.userUA))
	}
	return t
}

func (s *Session) close() {
	if s.tb.Failed() {
		if dir, err := s.SaveArtifacts(); err != nil {
			s.tb.Logf("saving the browser artifacts: %v", err)
		} else {
			s.tb.Logf("screenshots and HTML of the %s browser are in %s", s.name, dir)
		}
	}
	s.mu.Lock()
	tabs := s.tabs
	s.tabs = nil
	s.mu.Unlock()
	// Later tabs are children of the first; close them first.
	for i := len(tabs) - 1; i >= 0; i-- {
		tabs[i].cancel()
	}
}

// ArtifactsDir is where a test's artifacts go.
func ArtifactsDir(tb testing.TB) (string, error) {
	name := regexp.MustCompile(`[^A-Za-z0-9._-]+`).ReplaceAllString(tb.Name(), "_")
	if root := os.Getenv(EnvArtifacts); root != "" {
		dir := filepath.Join(root, name)
		return dir, os.MkdirAll(dir, 0o755)
	}
	return os.MkdirTemp("", "shiming-e2e-"+name+"-")
}

// SaveArtifacts writes a full-page PNG screenshot and the HTML of every
// tab of the session, and returns the folder.
func (s *Session) SaveArtifacts() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.saved == "" {
		dir, err := ArtifactsDir(s.tb)
		if err != nil {
			return "", err
		}
		s.saved = dir
	}
	var errs []error
	for _, t := range s.tabs {
		base := filepath.Join(s.saved, s.name+"-"+t.Name)
		ctx, cancel := context.WithTimeout(t.ctx, 15*time.Second)
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err == nil {
			err = os.WriteFile(base+".png", png, 0o644)
		}
		errs = append(errs, err)
		html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
		if err == nil {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			err = os.WriteFile(base+".html", []byte("<!-- "+strings.ReplaceAll(loc, "--", "%2D%2D")+" -->\n"+html), 0o644)
		}
		errs = append(errs, err)
		cancel()
	}
	return s.saved, errors.Join(errs...)
}

// Tab is one browser tab. Its methods fail the test (after saving the
// session's artifacts) when an action fails or outlives Timeout.
type Tab struct {
	Name    string
	Timeout time.Duration
	s       *Session
	ctx     context.Context
	cancel  context.CancelFunc
}

// Context returns the tab's chromedp context, for chromedp calls the
// helpers do not cover; give it a deadline.
func (t *Tab) Context() context.Context { return t.ctx }

// fail saves the artifacts and ends the test.
func (t *Tab) fail(format string, args ...any) {
	t.s.tb.Helper()
	msg := fmt.Sprintf(format, args...)
	loc, _ := try(t, 5*time.Second, chromedp.Location())
	dir, err := t.s.SaveArtifacts()
	if err != nil {
		t.s.tb.Fatalf("%s/%s at %s: %s (saving screenshots and HTML to %s: %v)", t.s.name, t.Name, loc, msg, dir, err)
	}
	t.s.tb.Fatalf("%s/%s at %s: %s (screenshots and HTML in %s)", t.s.name, t.Name, loc, msg, dir)
}

// Fatalf fails the test with the tab's artifacts saved.
func (t *Tab) Fatalf(format string, args ...any) {
	t.s.tb.Helper()
	t.fail(format, args...)
}

// Do runs actions under the tab's deadline.
func (t *Tab) Do(actions ...chromedp.Action[chromedp.Void]) {
	t.s.tb.Helper()
	ctx, cancel := context.WithTimeout(t.ctx, t.Timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.fail("%v", err)
	}
}

// Get runs one action that returns a value, under the tab's deadline.
func Get[T any](t *Tab, a chromedp.Action[T]) T {
	t.s.tb.Helper()
	ctx, cancel := context.WithTimeout(t.ctx, t.Timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.fail("%v", err)
	}
	return v
}

// try runs a value action and reports its error instead of failing.
func try[T any](t *Tab, d time.Duration, a chromedp.Action[T]) (T, error) {
	ctx, cancel := context.WithTimeout(t.ctx, d)
	defer cancel()
	return chromedp.Run(ctx, a)
}

// Navigate opens url and waits for it to load.
func (t *Tab) Navigate(url string) {
	t.s.tb.Helper()
	t.Do(chromedp.Navigate(url))
}

// NavigateStatus opens url and returns the HTTP status of the document.
func (t *Tab) NavigateStatus(url string) int64 {
	t.s.tb.Helper()
	resp := Get(t, chromedp.NavigateResponse(url))
	if resp == nil {
		t.fail("no response for %s", url)
	}
	return resp.Status
}

// Click clicks the first element matching the CSS selector, once visible.
func (t *Tab) Click(css string) {
	t.s.tb.Helper()
	t.Do(chromedp.Click(chromedp.CSS(css)))
}

// Submit clicks the element (a submit button or a link) and waits until
// the document it leads to has loaded.
func (t *Tab) Submit(css string) {
	t.s.tb.Helper()
	Get(t, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(css))))
}

// Fill types value into the field as a person would, after clearing it.
func (t *Tab) Fill(css, value string) {
	t.s.tb.Helper()
	if Get(t, chromedp.Value(chromedp.CSS(css))) != "" {
		t.Do(chromedp.Clear(chromedp.CSS(css)))
	}
	t.Do(chromedp.SendKeys(chromedp.CSS(css), value))
	if got := Get(t, chromedp.Value(chromedp.CSS(css))); got != value {
		t.fail("typed %q into %s, the field holds %q", value, css, got)
	}
}

// Check ticks a checkbox (clicks it unless it is ticked).
func (t *Tab) Check(css string) {
	t.s.tb.Helper()
	if checked := Get(t, chromedp.JavascriptAttribute[bool](chromedp.CSS(css), "checked")); !checked {
		t.Click(css)
	}
}

// Select picks the option with value in a select element.
func (t *Tab) Select(css, value string) {
	t.s.tb.Helper()
	t.Do(chromedp.SetValue(chromedp.CSS(css), value))
}

// WaitFor waits until an element matching css is in the document.
func (t *Tab) WaitFor(css string) {
	t.s.tb.Helper()
	t.Do(chromedp.WaitReady(chromedp.CSS(css)))
}

// WaitPage waits for the page whose body carries data-page=name.
func (t *Tab) WaitPage(name string) {
	t.s.tb.Helper()
	t.WaitFor(`body[data-page="` + name + `"]`)
}

// Has reports whether an element matches css now.
func (t *Tab) Has(css string) bool {
	t.s.tb.Helper()
	n := Get(t, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", css)))
	return n > 0
}

// Count counts the elements matching css, without page scripts (it works
// with JavaScript disabled).
func (t *Tab) Count(css string) int {
	t.s.tb.Helper()
	nodes, err := try(t, t.Timeout, chromedp.Nodes(chromedp.CSSAll(css), chromedp.AtLeast(0)))
	if err != nil {
		t.fail("count %s: %v", css, err)
	}
	return len(nodes)
}

// Attr returns an attribute of the first element matching css.
func (t *Tab) Attr(css, name string) string {
	t.s.tb.Helper()
	return Get(t, chromedp.AttributeValue(chromedp.CSS(css), name)).Value
}

// Text returns the visible text of the first element matching css.
func (t *Tab) Text(css string) string {
	t.s.tb.Helper()
	return Get(t, chromedp.Text(chromedp.CSS(css)))
}

// Value returns the value of a form field.
func (t *Tab) Value(css string) string {
	t.s.tb.Helper()
	return Get(t, chromedp.Value(chromedp.CSS(css)))
}

// Location returns the tab's URL.
func (t *Tab) Location() string {
	t.s.tb.Helper()
	return Get(t, chromedp.Location())
}

// Page is the data-page of the body.
func (t *Tab) Page() string {
	t.s.tb.Helper()
	return t.Attr("body", "data-page")
}

// Step is the data-step of the body.
func (t *Tab) Step() string {
	t.s.tb.Helper()
	return t.Attr("body", "data-step")
}

// Eventually polls cond until it holds, for at most d; a failure names
// what was awaited. cond may use the tab's helpers.
func (t *Tab) Eventually(what string, d time.Duration, cond func() bool) {
	t.s.tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.fail("still waiting after %v for %s", d, what)
		}
		select {
		case <-t.ctx.Done():
			t.fail("waiting for %s: %v", what, t.ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// DisableScripts turns JavaScript off in the tab (for the pages it loads
// from now on, and the current one).
func (t *Tab) DisableScripts() {
	t.s.tb.Helper()
	t.Do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	}))
}

func (t *Tab) userAgent(ua string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: ua})
		return err
	})
}

// Screenshot saves a full-page PNG of the tab to path.
func (t *Tab) Screenshot(path string) {
	t.s.tb.Helper()
	png := Get(t, chromedp.FullScreenshot(100))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.s.tb.Fatal(err)
	}
}

// SelectText picks the option of a select element whose text is text and
// tells the page it changed, as choosing it with the mouse does.
func (t *Tab) SelectText(css, text string) {
	t.s.tb.Helper()
	ok := Get(t, chromedp.Evaluate[bool](fmt.Sprintf(`(function () {
  var s = document.querySelector(%q);
  if (!s) { return false; }
  for (var i = 0; i < s.options.length; i++) {
    if (s.options[i].text.trim() === %q) {
      s.selectedIndex = i;
      s.dispatchEvent(new Event("change", { bubbles: true }));
      return true;
    }
  }
  return false;
})()`, css, text)))
	if !ok {
		t.fail("no option %q in %s", text, css)
	}
}

// Cookies returns the cookies the tab would send to url.
func (t *Tab) Cookies(url string) []*network.Cookie {
	t.s.tb.Helper()
	return Get(t, func(ctx context.Context, tg *chromedp.Target) ([]*network.Cookie, error) {
		res, err := cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
		return res.Cookies, err
	})
}

// SetCookies puts cookies (as Cookies returned them) back into the tab's
// browser context, for url.
func (t *Tab) SetCookies(url string, cookies []*network.Cookie) {
	t.s.tb.Helper()
	var params []*network.CookieParam
	for _, c := range cookies {
		params = append(params, &network.CookieParam{Name: c.Name, Value: c.Value, URL: url, Path: c.Path,
			Secure: c.Secure, HTTPOnly: c.HTTPOnly, SameSite: c.SameSite})
	}
	t.Do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.SetCookies, network.SetCookiesParams{Cookies: params})
		return err
	}))
}

// Requests records the URLs of the requests the tab sends from now on;
// the returned func reads them.
func (t *Tab) Requests() func() []string {
	t.s.tb.Helper()
	var mu sync.Mutex
	var urls []string
	err := chromedp.Listen(t.ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok && e.Request != nil {
			mu.Lock()
			urls = append(urls, e.Request.URL)
			mu.Unlock()
		}
	})
	if err != nil {
		t.fail("listen to requests: %v", err)
	}
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), urls...)
	}
}
