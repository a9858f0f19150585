package wechat

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/citizens"
	qrcode "github.com/skip2/go-qrcode"
)

// Long-poll states (wx_errcode), as the real login page sees them.
const (
	qrWaiting   = 408
	qrScanned   = 404
	qrConfirmed = 405
	qrCancelled = 403
	qrExpired   = 402
	// qrUnknown answers a uuid the sandbox never issued. Sandbox-defined:
	// the real behaviour is not known.
	qrUnknown = 400
)

// qrSession is one login QR code.
type qrSession struct {
	uuid        string
	appID       string
	redirectURI string
	state       string
	scope       string
	created     time.Time
	expires     time.Time
	status      int
	code        string
	holder      citizens.Citizen
	changed     chan struct{} // closed and replaced on every change
}

// statusLocked returns the session's state, expiring it when due.
func (q *qrSession) statusLocked(now time.Time) int {
	if (q.status == qrWaiting || q.status == qrScanned) && now.After(q.expires) {
		q.setLocked(qrExpired)
	}
	return q.status
}

func (q *qrSession) setLocked(status int) {
	q.status = status
	close(q.changed)
	q.changed = make(chan struct{})
}

func (s *Sim) openHandler() http.Handler {
	static, _ := fs.Sub(webFS, "web/static")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /connect/qrconnect", s.qrconnect)
	mux.HandleFunc("GET /connect/qrcode/{uuid}", s.qrImage)
	mux.HandleFunc("GET /connect/confirm", s.confirmPage)
	mux.Handle("GET /connect/sandbox/", http.StripPrefix("/connect/sandbox/", http.FileServerFS(static)))
	return s.inject(mux)
}

// inject applies the fault rules of vendor wechat to a page or image.
func (s *Sim) inject(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, handled := s.env.Inject(w, r, Vendor, r.URL.Path); handled {
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Texts of the real error pages (as reported by developers; the AppID
// and response_type texts are UNCONFIRMED).
const (
	pageBadAppID        = "AppID 参数错误"
	pageBadScope        = "Scope 参数错误或没有 Scope 权限"
	pageBadRedirect     = "redirect_uri 参数错误"
	pageBadResponseType = "response_type 参数错误"
)

type qrconnectPage struct {
	AppName   string
	UUID      string
	ImageURL  string
	PollURL   string
	Redirect  string
	State     string
	PhoneURL  string
	ExpiresIn int
}

func (s *Sim) qrconnect(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	app, ok := s.apps[q.Get("appid")]
	if !ok {
		s.errorPage(w, pageBadAppID)
		return
	}
	if q.Get("response_type") != "code" {
		s.errorPage(w, pageBadResponseType)
		return
	}
	if !scopeOK(q.Get("scope")) {
		s.errorPage(w, pageBadScope)
		return
	}
	redirect := q.Get("redirect_uri")
	if !redirectOK(app, redirect) {
		s.errorPage(w, pageBadRedirect)
		return
	}
	now := s.env.Now()
	sess := &qrSession{
		uuid: token(12), appID: app.AppID, redirectURI: redirect, state: q.Get("state"), scope: q.Get("scope"),
		created: now, expires: now.Add(s.opts.QRTTL), status: qrWaiting, changed: make(chan struct{}),
	}
	s.mu.Lock()
	s.sweepLocked(now)
	s.sessions[sess.uuid] = sess
	s.mu.Unlock()
	s.log.Info("wechat qr session", "app_id", app.AppID)
	s.html(w, "qrconnect.html.tmpl", qrconnectPage{
		AppName:   app.Name,
		UUID:      sess.uuid,
		ImageURL:  s.env.URL(OpenHost, "/connect/qrcode/"+sess.uuid),
		PollURL:   s.env.URL(LongPollHost, "/connect/l/qrconnect"),
		Redirect:  redirect,
		State:     sess.state,
		PhoneURL:  s.env.PublicURL + "/phone/?qr=" + url.QueryEscape(s.confirmURL(sess.uuid)),
		ExpiresIn: int(s.opts.QRTTL / time.Second),
	})
}

// scopeOK accepts what a website app may ask: snsapi_login only.
func scopeOK(scope string) bool {
	if scope == "" {
		return false
	}
	for _, sc := range strings.Split(scope, ",") {
		if sc != "snsapi_login" {
			return false
		}
	}
	return true
}

// redirectOK checks redirect_uri against the app's registered domains.
func redirectOK(app App, raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return false
	}
	for _, d := range app.RedirectDomains {
		d = strings.ToLower(d)
		if strings.Contains(d, ":") {
			if strings.ToLower(u.Host) == d {
				return true
			}
		} else if strings.ToLower(u.Hostname()) == d {
			return true
		}
	}
	return false
}

func (s *Sim) errorPage(w http.ResponseWriter, text string) {
	s.html(w, "error.html.tmpl", text)
}

func (s *Sim) html(w http.ResponseWriter, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.pages.ExecuteTemplate(w, name, data); err != nil {
		s.log.Error("wechat page", "page", name, "error", err)
	}
}

// confirmURL is what the login QR code encodes: the page a phone opens.
func (s *Sim) confirmURL(uuid string) string {
	return s.env.URL(OpenHost, "/connect/confirm?uuid="+url.QueryEscape(uuid))
}

// qrImage serves the QR code. WeChat serves a JPEG; the sandbox a PNG.
func (s *Sim) qrImage(w http.ResponseWriter, r *http.Request) {
	uuid := r.PathValue("uuid")
	s.mu.Lock()
	_, ok := s.sessions[uuid]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	png, err := qrcode.Encode(s.confirmURL(uuid), qrcode.Medium, 280)
	if err != nil {
		http.Error(w, "qr encode failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(png)
}

type landingPage struct {
	Title    string
	Text     string
	PhoneURL string
}

// confirmPage is what a real phone would open after scanning.
func (s *Sim) confirmPage(w http.ResponseWriter, r *http.Request) {
	content := s.confirmURL(r.URL.Query().Get("uuid"))
	s.html(w, "landing.html.tmpl", landingPage{
		Title:    "微信扫码登录",
		Text:     "这是沙箱中微信登录二维码的内容。真实环境里，手机微信扫码后在这里确认登录；在沙箱里请用虚拟手机完成。",
		PhoneURL: s.env.PublicURL + "/phone/?qr=" + url.QueryEscape(content),
	})
}

// longPoll answers the login page's poll with JavaScript:
// window.wx_errcode=408;window.wx_code=”; When last equals the current
// state it holds the request until the state changes or the hold ends.
func (s *Sim) longPoll(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/connect/l/qrconnect" {
		http.NotFound(w, r)
		return
	}
	code, handled := s.env.Inject(w, r, Vendor, r.URL.Path)
	if handled {
		return
	}
	if code != "" {
		n, err := strconv.Atoi(code)
		if err != nil {
			n = qrUnknown
		}
		writePoll(w, n, "")
		return
	}
	q := r.URL.Query()
	status, wxCode := s.pollState(r.Context(), q.Get("uuid"), q.Get("last"))
	writePoll(w, status, wxCode)
}

func (s *Sim) pollState(ctx context.Context, uuid, last string) (int, string) {
	s.mu.Lock()
	sess, ok := s.sessions[uuid]
	if !ok {
		s.mu.Unlock()
		return qrUnknown, ""
	}
	now := s.env.Now()
	status := sess.statusLocked(now)
	if last != "" && last == strconv.Itoa(status) && (status == qrWaiting || status == qrScanned) {
		wait := s.opts.LongPoll
		if until := sess.expires.Sub(now); until < wait {
			wait = until
		}
		changed := sess.changed
		s.polling++
		s.mu.Unlock()
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-changed:
			case <-t.C:
			case <-ctx.Done():
			case <-s.stop:
			}
			t.Stop()
		}
		s.mu.Lock()
		s.polling--
		status = sess.statusLocked(s.env.Now())
	}
	code := ""
	if status == qrConfirmed {
		code = sess.code
	}
	s.mu.Unlock()
	return status, code
}

func writePoll(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintf(w, "window.wx_errcode=%d;window.wx_code='%s';", status, code)
}
