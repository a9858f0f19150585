// Package login signs candidates in: by ID number and password (with the
// growing delay and lockout of ratelimit.PasswordGuard), by an SMS code to
// the bound phone (验码登录, which also lifts a lockout), and by scanning
// with a provider linked at registration. Every sign-in issues a new
// session id and is audited; the candidate lands on the portal's home.
package login

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/shiming-id/shiming/gateway/account"
	"github.com/shiming-id/shiming/gateway/audit"
	"github.com/shiming-id/shiming/gateway/config"
	"github.com/shiming-id/shiming/gateway/flow"
	"github.com/shiming-id/shiming/gateway/flowpage"
	"github.com/shiming-id/shiming/gateway/httpserver"
	"github.com/shiming-id/shiming/gateway/journey/metrics"
	"github.com/shiming-id/shiming/gateway/ratelimit"
	"github.com/shiming-id/shiming/gateway/scan"
	"github.com/shiming-id/shiming/gateway/smscode"
	"github.com/shiming-id/shiming/gateway/web"
	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

// Kind is the flow kind of SMS and scan logins.
const Kind = "login"

// State is a login flow's state.
type State struct {
	Portal string         `json:"portal"`
	SMS    smscode.Ticket `json:"sms"`
	Scan   scan.Session   `json:"scan"`
}

// Options configure the handlers.
type Options struct {
	flowpage.Deps
	ScanProviders []string
	// Issuers are the government-portal login buttons.
	Issuers []web.Choice
	Guard   *ratelimit.PasswordGuard
}

// Handler serves the login pages.
type Handler struct {
	o     Options
	flows flowpage.FlowKind[State]
}

// New returns the handlers.
func New(o Options) (*Handler, error) {
	if err := o.Deps.Init(); err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	if o.Guard == nil {
		return nil, fmt.Errorf("login: %w", flowpage.ErrMissingDependency)
	}
	h := &Handler{o: o}
	h.flows = flowpage.FlowKind[State]{Name: Kind, Deps: &h.o.Deps,
		Portal: func(s *State) string { return s.Portal },
		Scan:   func(s *State) *scan.Session { return &s.Scan },
	}
	return h, nil
}

// Register adds the routes, for every portal p:
//
//	GET  /p/login                 the tabs 密码登录, 验码登录, 扫码登录, 政务服务网登录
//	POST /p/login/password        ID number + password
//	POST /p/login/sms             action=send (a code to the bound phone) or verify
//	POST /p/login/scan            provider: starts a scan login
//	GET|POST /p/login/{flow}/qr, GET /p/login/{flow}/qr.png, /status
func (h *Handler) Register(r httpserver.Registrar) {
	for _, pt := range h.o.Portals {
		base := "/" + pt.ID + "/login"
		r.Handle("GET "+base, h.o.Desktop(pt, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.page(w, r, pt, "", web.Form{}) })))
		r.Handle("POST "+base+"/password", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.password(w, r, pt) }))
		r.Handle("POST "+base+"/sms", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.sms(w, r, pt) }))
		r.Handle("POST "+base+"/scan", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.scanStart(w, r, pt) }))
		r.Handle("GET "+base+"/{flow}/qr", h.o.Desktop(pt, h.flow(pt, h.qr)))
		r.Handle("POST "+base+"/{flow}/qr", h.flow(pt, h.qrSubmit))
		r.Handle("GET "+base+"/{flow}/qr.png", h.flow(pt, h.qrImage))
		r.Handle("GET "+base+"/{flow}/status", h.flow(pt, h.status))
	}
}

// page renders the login page on tab (from the query when empty).
func (h *Handler) page(w http.ResponseWriter, r *http.Request, pt config.Portal, tab string, form web.Form, notices ...web.Notice) {
	q := r.URL.Query()
	if tab == "" {
		tab = q.Get("tab")
	}
	data := web.LoginData{Portal: pt.ID, Issuers: h.o.Issuers}
	for _, name := range h.o.ScanProviders {
		data.ScanProviders = append(data.ScanProviders, web.Choice{ID: name, Label: web.ProviderName(name)})
	}
	switch tab {
	case "sms", "password":
	case "scan":
		if len(data.ScanProviders) == 0 {
			tab = "password"
		}
	case "oidc":
		if len(data.Issuers) == 0 {
			tab = "password"
		}
	default:
		tab = "password"
	}
	data.Tab = tab
	if q.Get("registered") == "1" && r.Method == http.MethodGet {
		notices = append([]web.Notice{{Tone: web.ToneOK, Kind: "registered",
			Text: "实名认证注册成功。请牢记您的登录密码，今后用身份证号码和密码登录；也可以用绑定的手机号码验码登录。"}}, notices...)
	}
	if tab == "sms" {
		if f := h.current(r); f != nil && f.State.SMS.Sent() && f.State.SMS.Purpose == smscode.PurposeLogin {
			data.SMSSent, data.MaskedPhone = true, cnid.MaskPhone(f.State.SMS.Phone)
			data.ValidFor = web.ValidFor(f.State.SMS.ValidFor())
			if d := h.o.SMS.ResendIn(f.State.SMS); d > 0 {
				data.ResendIn = web.Wait(d)
			}
			if form.Value("phone") == "" {
				form.Set("phone", f.State.SMS.Phone)
			}
		}
	}
	signedIn, _ := h.o.Sessions.AccountID(r)
	h.o.Pages.Render(w, r, http.StatusOK, web.Page{Name: "login", Title: "登录", Step: "login_" + tab, Portal: pt,
		SignedIn: signedIn != "", Notices: notices, Form: form, Data: data})
}

// current returns the browser's login flow, or nil.
func (h *Handler) current(r *http.Request) *flow.Flow[State] {
	id, _ := h.o.Sessions.FlowID(r, Kind)
	binding, _ := h.o.Sessions.CurrentBinding(r)
	if id == "" || binding == "" {
		return nil
	}
	f, err := flow.Load[State](r.Context(), h.o.Flows, Kind, id, binding)
	if err != nil {
		return nil
	}
	return f
}

// SignIn makes the session the account's (a new session id), lifts a
// password lockout when the person proved the account another way, and
// sends them home.
func (h *Handler) SignIn(w http.ResponseWriter, r *http.Request, pt config.Portal, a account.Account, method string) {
	ctx := r.Context()
	log := httpserver.LoggerFrom(ctx, h.o.Logger)
	if err := h.o.Guard.Cleared(ctx, h.o.Accounts.HashIDNumber(a.IDNumber)); err != nil {
		log.WarnContext(ctx, "login: clear password failures", slog.Any("error", err))
	}
	if id, _ := h.o.Sessions.FlowID(r, Kind); id != "" {
		if err := flow.Delete(ctx, h.o.Flows, id); err != nil {
			log.WarnContext(ctx, "login: delete flow", slog.Any("error", err))
		}
		if err := h.o.Sessions.SetFlowID(w, r, Kind, ""); err != nil {
			log.WarnContext(ctx, "login: unbind flow", slog.Any("error", err))
		}
	}
	if err := h.o.Sessions.SignIn(w, r, a.ID); err != nil {
		h.o.Metrics.Login(pt.ID, method, metrics.LoginError)
		httpserver.Error(w, r, http.StatusServiceUnavailable, "", err)
		return
	}
	if err := h.o.Audit.Record(ctx, audit.KindLogin, a.ID, cnid.MaskID(a.IDNumber), map[string]string{"portal": pt.ID, "method": method}); err != nil {
		log.ErrorContext(ctx, "audit login failed", slog.Any("error", err))
	}
	h.o.Metrics.Login(pt.ID, method, metrics.LoginSuccess)
	log.InfoContext(ctx, "login", slog.String("method", method), slog.String("account", a.ID))
	http.Redirect(w, r, "/"+pt.ID+"/home", http.StatusSeeOther)
}

// password is 密码登录.
func (h *Handler) password(w http.ResponseWriter, r *http.Request, pt config.Portal) {
	ctx := r.Context()
	var form web.Form
	idNumber := cnid.Normalize(r.PostFormValue("id_number"))
	pw := r.PostFormValue("password")
	form.Set("id_number", idNumber)
	if _, err := cnid.Parse(idNumber, h.o.Now()); err != nil {
		form.Fail("id_number", "请填写正确的18位身份证号码。")
	}
	if pw == "" {
		form.Fail("password", "请填写登录密码。")
	}
	if !form.OK() {
		h.page(w, r, pt, "password", form)
		return
	}
	key := h.o.Accounts.HashIDNumber(idNumber)
	d, err := h.o.Guard.Before(ctx, key, h.o.ClientIP(r))
	if err != nil {
		h.o.Metrics.Login(pt.ID, metrics.MethodPassword, metrics.LoginError)
		httpserver.Error(w, r, http.StatusServiceUnavailable, "", err)
		return
	}
	if !d.Allowed {
		outcome, text := metrics.LoginRateLimited, "登录尝试过于频繁，请"+web.Wait(d.RetryAfter)+"后再试。"
		if d.Rule == ratelimit.RuleLockout {
			outcome = metrics.LoginLocked
			text = "密码连续输错次数过多，账号已暂时锁定，请" + web.Wait(d.RetryAfter) + "后再试。也可以使用验码登录，登录成功后自动解锁。"
		}
		h.o.Metrics.Login(pt.ID, metrics.MethodPassword, outcome)
		h.page(w, r, pt, "password", form, web.Notice{Tone: web.ToneWarn, Kind: outcome, Text: text})
		return
	}
	a, err := h.o.Accounts.CheckPassword(ctx, idNumber, pw)
	if errors.Is(err, account.ErrWrongPassword) {
		if ferr := h.o.Guard.Failed(ctx, key); ferr != nil {
			httpserver.LoggerFrom(ctx, h.o.Logger).WarnContext(ctx, "login: record failure", slog.Any("error", ferr))
		}
		h.o.Metrics.Login(pt.ID, metrics.MethodPassword, metrics.LoginWrongCredentials)
		h.page(w, r, pt, "password", form, web.Notice{Tone: web.ToneError, Kind: metrics.LoginWrongCredentials,
			Text: "身份证号码或密码不正确。忘记密码可使用验码登录，或点击“忘记密码”。"})
		return
	}
	if err != nil {
		h.o.Metrics.Login(pt.ID, metrics.MethodPassword, metrics.LoginError)
		httpserver.Error(w, r, http.StatusInternalServerError, "", err)
		return
	}
	h.SignIn(w, r, pt, a, metrics.MethodPassword)
}

// sms is 验码登录: send a code to the phone bound to an account, or check it.
func (h *Handler) sms(w http.ResponseWriter, r *http.Request, pt config.Portal) {
	ctx := r.Context()
	var form web.Form
	form.Set("phone", r.PostFormValue("phone"))
	phone, err := cnid.ParsePhone(r.PostFormValue("phone"))
	if err != nil {
		form.Fail("phone", "请填写11位手机号码。")
		h.page(w, r, pt, "sms", form)
		return
	}
	form.Set("phone", phone)
	notLinked := web.Notice{Tone: web.ToneError, Kind: metrics.LoginWrongCredentials,
		Text: "该手机号码没有绑定实名账号。如果您更换过手机号码，请点击“忘记密码”修改手机号码；还没有注册的，请先获取实名认证。"}
	if r.PostFormValue("action") != "verify" {
		a, err := h.o.Accounts.ByPhone(ctx, phone)
		if errors.Is(err, account.ErrNotFound) {
			h.o.Metrics.Login(pt.ID, metrics.MethodSMS, metrics.LoginWrongCredentials)
			h.page(w, r, pt, "sms", form, notLinked)
			return
		}
		if err != nil {
			httpserver.Error(w, r, http.StatusInternalServerError, "", err)
			return
		}
		t, err := h.o.SMS.Send(ctx, smscode.Request{Phone: phone, Purpose: smscode.PurposeLogin, IDNumber: a.IDNumber, IP: h.o.ClientIP(r)})
		if err != nil {
			field, n := flowpage.SMSRefusal(err, h.o.SMS.Provider())
			if n == nil {
				n = &web.Notice{Tone: web.ToneWarn, Kind: sdk.KindOf(err).String(), Text: field}
			}
			if n.Kind == metrics.LoginRateLimited {
				h.o.Metrics.Login(pt.ID, metrics.MethodSMS, metrics.LoginRateLimited)
			} else {
				h.o.Metrics.Error(pt.ID, h.o.SMS.Provider(), sdk.KindOf(err))
			}
			h.page(w, r, pt, "sms", form, *n)
			return
		}
		if err := h.saveTicket(w, r, pt, t); err != nil {
			flowpage.UpdateError(w, r, err)
			return
		}
		http.Redirect(w, r, "/"+pt.ID+"/login?tab=sms", http.StatusSeeOther)
		return
	}
	code := strings.TrimSpace(r.PostFormValue("code"))
	if !smscode.ValidCode(code) {
		form.Fail("code", "请填写短信中的数字验证码。")
		h.page(w, r, pt, "sms", form)
		return
	}
	f := h.current(r)
	if f == nil {
		h.page(w, r, pt, "sms", form, *flowpage.NoCodeNotice())
		return
	}
	binding, _ := h.o.Sessions.CurrentBinding(r)
	f, err = flow.Update(ctx, h.o.Flows, Kind, f.ID, binding, func(s *State) error {
		return smscode.Reserve(&s.SMS, phone, smscode.PurposeLogin, h.o.Now())
	})
	if err == nil {
		err = h.o.SMS.Check(ctx, f.State.SMS, code)
	}
	if err != nil {
		if f == nil {
			flowpage.UpdateError(w, r, err)
			return
		}
		field, n := flowpage.SMSRefusal(err, h.o.SMS.Provider())
		var notices []web.Notice
		if n != nil {
			notices = append(notices, *n)
		} else {
			form.Fail("code", field)
			h.o.Metrics.Login(pt.ID, metrics.MethodSMS, metrics.LoginWrongCredentials)
		}
		h.page(w, r, pt, "sms", form, notices...)
		return
	}
	if _, err := flow.Update(ctx, h.o.Flows, Kind, f.ID, binding, func(s *State) error { s.SMS.Used = true; return nil }); err != nil {
		flowpage.UpdateError(w, r, err)
		return
	}
	a, err := h.o.Accounts.ByPhone(ctx, phone)
	if errors.Is(err, account.ErrNotFound) {
		h.o.Metrics.Login(pt.ID, metrics.MethodSMS, metrics.LoginWrongCredentials)
		h.page(w, r, pt, "sms", form, notLinked)
		return
	}
	if err != nil {
		httpserver.Error(w, r, http.StatusInternalServerError, "", err)
		return
	}
	h.SignIn(w, r, pt, a, metrics.MethodSMS)
}

// saveTicket keeps a sent code's ticket in the browser's login flow,
// creating the flow if needed.
func (h *Handler) saveTicket(w http.ResponseWriter, r *http.Request, pt config.Portal, t smscode.Ticket) error {
	if f := h.current(r); f != nil && f.State.Portal == pt.ID {
		_, err := flow.Update(r.Context(), h.o.Flows, Kind, f.ID, f.Binding, func(s *State) error { s.SMS = t; return nil })
		return err
	}
	_, err := h.flows.Begin(w, r, pt, State{Portal: pt.ID, SMS: t})
	return err
}

// scanStart begins a scan login with a provider.
func (h *Handler) scanStart(w http.ResponseWriter, r *http.Request, pt config.Portal) {
	provider := r.PostFormValue("provider")
	if !slices.Contains(h.o.ScanProviders, provider) {
		httpserver.Error(w, r, http.StatusBadRequest, "", nil)
		return
	}
	if !h.o.Starter().Allow(w, r) {
		return
	}
	c, err := h.flows.Begin(w, r, pt, State{Portal: pt.ID})
	if err != nil {
		httpserver.Error(w, r, http.StatusServiceUnavailable, "", err)
		return
	}
	if _, err := h.o.Scan.Begin(r.Context(), h.flows.ScanOp(c), provider); err != nil {
		flowpage.UpdateError(w, r, err)
		return
	}
	http.Redirect(w, r, h.qrURL(pt, c.Flow.ID), http.StatusSeeOther)
}
