package alipay

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/skip2/go-qrcode"

	"github.com/shiming-id/shiming/contrib/sandbox/citizens"
	"github.com/shiming-id/shiming/contrib/sandbox/phone"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

// Paths under HostOpenAuth.
const (
	authorizePath = "/oauth2/publicAppAuthorize.htm"
	qrPath        = "/sandbox/qr.png"           // sandbox-only: ?c=<content> → PNG
	statusPath    = "/sandbox/authorize-status" // sandbox-only: the desktop page polls it
	avatarPath    = "/sandbox/avatar.png"       // sandbox-only: every user's avatar
	maxQRContent  = 2048                        // bytes a QR code may encode here
	loginTTL      = 5 * time.Minute             // how long a scanned login waits for the person
	sourceWallet  = "alipay_wallet"             // the callback's source parameter
	cancelError   = "access_denied"             // sandbox-defined: the callback's error on cancel
	stateWaiting  = "waiting"
	stateScanned  = "scanned"
	stateDone     = "confirmed"
	stateCanceled = "cancelled"
	stateExpired  = "expired"
)

// authorizeRequest is a validated publicAppAuthorize.htm query.
type authorizeRequest struct {
	app         *app
	scopes      []string
	scope       string // as given, comma-joined
	redirectURI string
	state       string
}

// key identifies the login a QR code stands for.
func (r authorizeRequest) key() string {
	return strings.Join([]string{r.app.AppID, r.scope, r.redirectURI, r.state}, "\n")
}

// Problems of an authorize query, shown on the error page. Sandbox-defined.
const (
	problemApp      = "invalid-app-id"
	problemScope    = "invalid-scope"
	problemRedirect = "invalid-redirect-uri"
)

var problemText = map[string]string{
	problemApp:      "应用不存在（app_id无效）",
	problemScope:    "授权范围scope无效，支持auth_user、auth_base",
	problemRedirect: "回调地址redirect_uri无效",
}

// parseAuthorize validates app_id, scope and redirect_uri. The real
// platform also checks redirect_uri against the app's configured callback
// domain, which sandbox apps do not carry; the sandbox accepts any
// absolute http(s) URL.
func (s *Sim) parseAuthorize(q url.Values) (authorizeRequest, string) {
	r := authorizeRequest{app: s.apps[q.Get("app_id")], scope: q.Get("scope"), redirectURI: q.Get("redirect_uri"), state: q.Get("state")}
	if r.app == nil {
		return r, problemApp
	}
	if r.scope == "" {
		return r, problemScope
	}
	for _, sc := range strings.Split(r.scope, ",") {
		if sc != scopeUser && sc != scopeBase {
			return r, problemScope
		}
		r.scopes = append(r.scopes, sc)
	}
	u, err := url.Parse(r.redirectURI)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
		return r, problemRedirect
	}
	return r, ""
}

// login is a website login waiting for the person on the phone.
type login struct {
	id      string
	req     authorizeRequest
	qr      string
	state   string
	created time.Time
	expires time.Time
	// desktop is true when the authorize page is open on a desktop, which
	// then takes the final redirect instead of the phone.
	desktop  bool
	redirect string
}

// openLogin returns the login of a request, creating it when there is
// none or the last one's time is up. A finished login is returned as it
// is until then, so that looking a used QR code up again has no side
// effect; the gateway shows a new QR code (a new state) for a new attempt.
func (s *Sim) openLogin(req authorizeRequest, qr string, desktop bool) *login {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked()
	if id, found := s.loginByQ[req.key()]; found {
		if l := s.logins[id]; l != nil && now.Before(l.expires) {
			l.desktop = l.desktop || desktop
			return l
		}
	}
	l := &login{id: "alipay-login-" + randHex(8), req: req, qr: qr, state: stateWaiting, created: now, expires: now.Add(loginTTL), desktop: desktop}
	s.logins[l.id] = l
	s.loginByQ[req.key()] = l.id
	return l
}

func (l *login) open(now time.Time) bool {
	return (l.state == stateWaiting || l.state == stateScanned) && now.Before(l.expires)
}

// stateAt is the login's state, expired once its time is up.
func (l *login) stateAt(now time.Time) string {
	if (l.state == stateWaiting || l.state == stateScanned) && !now.Before(l.expires) {
		return stateExpired
	}
	return l.state
}

func (s *Sim) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	injected, handled := s.env.Inject(w, r, "alipay", authorizePath)
	if handled {
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if injected != "" {
		res := injectedResult(injected)
		s.renderError(w, http.StatusOK, res.subCode, res.subMsg)
		return
	}
	req, problem := s.parseAuthorize(r.URL.Query())
	if problem != "" {
		s.renderError(w, http.StatusBadRequest, problem, problemText[problem])
		return
	}
	qr := s.env.URL(HostOpenAuth, authorizePath) + "?" + r.URL.RawQuery
	l := s.openLogin(req, qr, true)
	s.render(w, http.StatusOK, "authorize.html", map[string]any{
		"AppName":   req.app.Name,
		"AppID":     req.app.AppID,
		"UserInfo":  strings.Contains(req.scope, scopeUser),
		"QRImage":   s.qrURL(qr),
		"QRContent": qr,
		"StatusURL": s.env.URL(HostOpenAuth, statusPath) + "?id=" + url.QueryEscape(l.id),
		"Expires":   l.expires.In(beijing).Format("15:04:05"),
		"Static":    s.env.URL(HostOpenAuth, "/sandbox/static/"),
	})
}

// qrURL is the sandbox URL of a PNG QR code encoding content.
func (s *Sim) qrURL(content string) string {
	return s.env.URL(HostOpenAuth, qrPath) + "?c=" + url.QueryEscape(content)
}

func (s *Sim) serveQR(w http.ResponseWriter, r *http.Request) {
	c := r.URL.Query().Get("c")
	if c == "" || len(c) > maxQRContent {
		http.Error(w, "c must hold 1 to 2048 bytes", http.StatusBadRequest)
		return
	}
	png, err := qrcode.Encode(c, qrcode.Medium, 256)
	if err != nil {
		http.Error(w, "cannot encode", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "private, max-age=3600")
	_, _ = w.Write(png)
}

// serveLoginStatus answers the desktop page's poll with the login's state
// and, once the person confirmed or cancelled, where to go.
func (s *Sim) serveLoginStatus(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	s.mu.Lock()
	l := s.logins[r.URL.Query().Get("id")]
	var st struct {
		State    string `json:"state"`
		Redirect string `json:"redirect,omitempty"`
	}
	if l != nil {
		st.State = l.stateAt(now)
		if l.desktop {
			st.Redirect = l.redirect
		}
	}
	s.mu.Unlock()
	if l == nil {
		http.Error(w, "no such login", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_ = json.NewEncoder(w).Encode(st)
}

// lookupLogin recognises a publicAppAuthorize.htm URL, on the sandbox or
// on the real host, and returns its login, creating it on first scan.
func (s *Sim) lookupLogin(u *url.URL, raw string) (phone.Item, bool) {
	if !strings.HasSuffix(u.Path, authorizePath) {
		return phone.Item{}, false
	}
	if u.Host != HostOpenAuth && !strings.HasSuffix(u.Path, "/"+HostOpenAuth+authorizePath) {
		return phone.Item{}, false
	}
	req, problem := s.parseAuthorize(u.Query())
	if problem != "" {
		return phone.Item{}, false
	}
	l := s.openLogin(req, raw, false)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loginItem(l, s.now()), true
}

// loginItem describes a login for the phone. The caller holds s.mu.
func (s *Sim) loginItem(l *login, now time.Time) phone.Item {
	it := phone.Item{
		ID:        l.id,
		Vendor:    vendor,
		App:       l.req.app.AppID,
		Kind:      "scan_login",
		Title:     "支付宝登录授权：" + l.req.app.Name,
		State:     l.stateAt(now),
		QRContent: l.qr,
		Created:   l.created,
		Expires:   l.expires,
	}
	switch it.State {
	case stateWaiting:
		it.Actions = []phone.Action{phone.Scan, phone.Confirm, phone.Cancel}
	case stateScanned:
		it.Actions = []phone.Action{phone.Confirm, phone.Cancel}
	}
	return it
}

// actLogin performs a phone action on a login.
func (s *Sim) actLogin(l *login, action phone.Action, holder citizens.Citizen) (phone.Outcome, error) {
	now := s.now()
	s.mu.Lock()
	state := l.stateAt(now)
	if state == stateExpired {
		s.mu.Unlock()
		return phone.Outcome{}, errorf(phone.ErrExpired, "login expired")
	}
	if state != stateWaiting && state != stateScanned {
		s.mu.Unlock()
		return phone.Outcome{}, errorf(phone.ErrNotAllowed, "login is %s", state)
	}
	switch action {
	case phone.Scan:
		if state == stateScanned {
			s.mu.Unlock()
			return phone.Outcome{}, errorf(phone.ErrNotAllowed, "login is already scanned")
		}
		l.state = stateScanned
		s.mu.Unlock()
		return phone.Outcome{Message: "已扫码，请确认是否授权登录" + l.req.app.Name}, nil
	case phone.Confirm, phone.Cancel:
	default:
		s.mu.Unlock()
		return phone.Outcome{}, errorf(phone.ErrNotAllowed, "%s is not a login action", action)
	}
	if action == phone.Confirm && holder.IDNumber == "" {
		s.mu.Unlock()
		return phone.Outcome{}, errorf(phone.ErrNoHolder, "confirm needs a person holding the phone")
	}
	// Claim the login before issuing the code so that two confirms cannot
	// both succeed.
	if action == phone.Confirm {
		l.state = stateDone
	} else {
		l.state = stateCanceled
	}
	req, desktop := l.req, l.desktop
	s.mu.Unlock()

	q := []string{"app_id=" + url.QueryEscape(req.app.AppID), "source=" + sourceWallet, "scope=" + url.QueryEscape(req.scope)}
	msg := "已取消授权"
	if action == phone.Confirm {
		q = append(q, "auth_code="+s.issueAuthCode(req.app.AppID, holder, req.scopes))
		msg = "已授权登录" + req.app.Name
		s.log.Info("alipay: login confirmed", "app_id", req.app.AppID, "holder", cnid.MaskID(holder.IDNumber))
	}
	if req.state != "" {
		q = append(q, "state="+url.QueryEscape(req.state))
	}
	if action == phone.Cancel {
		q = append(q, "error="+cancelError)
	}
	sep := "?"
	if strings.Contains(req.redirectURI, "?") {
		sep = "&"
	}
	redirect := req.redirectURI + sep + strings.Join(q, "&")
	if desktop {
		s.mu.Lock()
		l.redirect = redirect
		s.mu.Unlock()
		return phone.Outcome{Message: msg + "，请回到电脑上继续"}, nil
	}
	return phone.Outcome{Redirect: redirect, Message: msg}, nil
}
