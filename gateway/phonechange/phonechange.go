// Package phonechange serves 忘记密码: the guide's nine-step change of the
// bound phone number (ID number → 修改手机号码 → name, new number and an
// SMS code to the new number → face verification → confirm), and a
// password reset by an SMS code to the current number. The name must match
// the account before any SMS is sent, the code is bound to the flow and to
// the new number, and the face must pass before the change is committed;
// the commit ends every session of the account and is audited.
package phonechange

import (
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/shiming-id/shiming/gateway/account"
	"github.com/shiming-id/shiming/gateway/audit"
	"github.com/shiming-id/shiming/gateway/config"
	"github.com/shiming-id/shiming/gateway/flow"
	"github.com/shiming-id/shiming/gateway/flowpage"
	"github.com/shiming-id/shiming/gateway/httpserver"
	"github.com/shiming-id/shiming/gateway/journey/metrics"
	"github.com/shiming-id/shiming/gateway/ratelimit"
	"github.com/shiming-id/shiming/gateway/scan"
	"github.com/shiming-id/shiming/gateway/session"
	"github.com/shiming-id/shiming/gateway/smscode"
	"github.com/shiming-id/shiming/gateway/web"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

// Kind is the flow kind of the phone change and the password reset.
const Kind = "phone_change"

// Steps of the flow.
const (
	StepOptions   = "options"
	StepChange    = "change"
	StepFace      = "face"
	StepConfirm   = "confirm"
	StepDone      = "done"
	StepReset     = "reset"
	StepResetDone = "reset_done"
)

var (
	changeOrder  = []string{"", StepOptions, StepChange, StepFace, StepConfirm, StepDone}
	changeLabels = []string{"身份证号码", "选择业务", "身份信息与短信验证", "人脸识别", "确认修改", "完成"}
)

// maxNameChecks bounds the names one flow may try, so that the flow does
// not become a way to guess a registered person's name.
const maxNameChecks = 5

// State is the flow's state.
type State struct {
	Portal   string `json:"portal"`
	Step     string `json:"step"`
	IDNumber string `json:"id_number"`
	// AccountID is the account of IDNumber, or "" when none has it: the
	// flow goes on the same way and fails at the name check, so that it
	// does not tell who is registered.
	AccountID  string           `json:"account_id,omitempty"`
	NameChecks int              `json:"name_checks,omitempty"`
	Name       string           `json:"name,omitempty"`
	NewPhone   string           `json:"new_phone,omitempty"`
	SMS        smscode.Ticket   `json:"sms"`
	Face       scan.FaceSession `json:"face"`
	Committing bool             `json:"committing,omitempty"`
}

func (s *State) current() string {
	if s.Step == StepFace && s.Face.Phase == scan.FacePassed {
		return StepConfirm
	}
	return s.Step
}

// Options configure the handlers.
type Options struct {
	Portals   []config.Portal
	RealName  config.RealName
	Limits    config.Limits
	PublicURL string
	Sessions  *session.Manager
	Flows     *flow.Engine
	Accounts  *account.Service
	Limiter   *ratelimit.Limiter
	Guard     *ratelimit.PasswordGuard
	Audit     *audit.Log
	Scan      *scan.Machine
	SMS       *smscode.Sender
	Pages     *web.Renderer
	Metrics   *metrics.Journeys
	Desktop   func(config.Portal, http.Handler) http.Handler
	ClientIP  func(*http.Request) string
	DemoPhone string
	Now       func() time.Time
	Logger    *slog.Logger
}

// Handler serves 忘记密码.
type Handler struct {
	o       Options
	starter flowpage.Starter
}

// New returns the handlers.
func New(o Options) (*Handler, error) {
	if o.Sessions == nil || o.Flows == nil || o.Accounts == nil || o.Limiter == nil || o.Guard == nil || o.Audit == nil ||
		o.Scan == nil || o.SMS == nil || o.Pages == nil || o.Metrics == nil {
		return nil, errors.New("phonechange: a dependency is missing")
	}
	if o.RealName.PhoneChangeFace == "" {
		return nil, errors.New("phonechange: realname.phone_change_face names no face provider")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ClientIP == nil {
		o.ClientIP = flowpage.RemoteIP
	}
	if o.Desktop == nil {
		o.Desktop = func(_ config.Portal, h http.Handler) http.Handler { return h }
	}
	if o.RealName.FlowTTL <= 0 {
		o.RealName.FlowTTL = config.Duration(30 * time.Minute)
	}
	return &Handler{o: o, starter: flowpage.Starter{Limiter: o.Limiter, PerMin: o.Limits.QRStartsPerIPPerMinute, ClientIP: o.ClientIP}}, nil
}

type call struct {
	pt      config.Portal
	f       *flow.Flow[State]
	binding string
}

func (c *call) state() *State { return &c.f.State }

// Register adds the routes, for every portal p:
//
//	GET|POST /p/forgot                     忘记密码: the ID number
//	GET  /p/forgot/{flow}/options          修改手机号码 or 重置密码
//	GET|POST /p/forgot/{flow}/change       name + new phone + SMS code
//	GET|POST /p/forgot/{flow}/face         face verification
//	GET  /p/forgot/{flow}/face/qr.png, /face/status
//	GET|POST /p/forgot/{flow}/confirm      commit
//	GET  /p/forgot/{flow}/done
//	GET|POST /p/forgot/{flow}/reset        password reset by SMS to the current phone
func (h *Handler) Register(r httpserver.Registrar) {
	for _, pt := range h.o.Portals {
		base := "/" + pt.ID + "/forgot"
		r.Handle("GET "+base, h.o.Desktop(pt, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.forgot(w, r, pt, web.Form{}) })))
		r.Handle("POST "+base, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.start(w, r, pt) }))
		routes := []struct {
			method, path string
			allowed      []string
			fn           func(http.ResponseWriter, *http.Request, *call)
			desktop      bool
		}{
			{"GET", "options", []string{StepOptions}, h.options, true},
			{"GET", "change", []string{StepOptions, StepChange}, h.change, true},
			{"POST", "change", []string{StepOptions, StepChange}, h.changeSubmit, false},
			{"GET", "face", []string{StepFace}, h.face, true},
			{"POST", "face", []string{StepFace}, h.faceSubmit, false},
			{"GET", "face/qr.png", nil, h.faceImage, false},
			{"GET", "face/status", nil, h.faceStatus, false},
			{"GET", "confirm", []string{StepConfirm}, h.confirm, true},
			{"POST", "confirm", []string{StepConfirm}, h.confirmSubmit, false},
			{"GET", "done", []string{StepDone, StepResetDone}, h.done, true},
			{"GET", "reset", []string{StepOptions, StepReset}, h.reset, true},
			{"POST", "reset", []string{StepOptions, StepReset}, h.resetSubmit, false},
		}
		for _, rt := range routes {
			hd := h.step(pt, rt.allowed, rt.fn)
			if rt.desktop {
				hd = h.o.Desktop(pt, hd)
			}
			r.Handle(rt.method+" "+base+"/{flow}/"+rt.path, hd)
		}
	}
}

// step loads the flow and redirects requests for a step the flow is not
// at to the one it is at.
func (h *Handler) step(pt config.Portal, allowed []string, fn func(http.ResponseWriter, *http.Request, *call)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, binding := flowpage.Load[State](w, r, h.o.Sessions, h.o.Flows, Kind, r.PathValue("flow"))
		if f == nil {
			return
		}
		if f.State.Portal != pt.ID {
			httpserver.Error(w, r, http.StatusNotFound, web.TextFlowExpired, nil)
			return
		}
		cur := f.State.current()
		if allowed != nil && !slices.Contains(allowed, cur) {
			http.Redirect(w, r, h.url(pt, f.ID, cur), http.StatusSeeOther)
			return
		}
		fn(w, r, &call{pt: pt, f: f, binding: binding})
	})
}

func (h *Handler) url(pt config.Portal, id, step string) string {
	if step == StepResetDone {
		step = StepDone
	}
	return "/" + pt.ID + "/forgot/" + id + "/" + step
}

func (h *Handler) page(c *call, name, title string) web.Page {
	cur := c.state().current()
	p := web.Page{Name: name, Title: title, Step: cur, Portal: c.pt}
	if i := slices.Index(changeOrder, cur); i >= 0 {
		p.Steps = web.Steps(changeLabels, i)
	}
	return p
}

func (h *Handler) update(r *http.Request, c *call, change func(*State) error) (*State, error) {
	f, err := flow.Update(r.Context(), h.o.Flows, Kind, c.f.ID, c.binding, change)
	if f != nil {
		c.f = f
	}
	if err != nil {
		return nil, err
	}
	return &c.f.State, nil
}

func (h *Handler) forgot(w http.ResponseWriter, r *http.Request, pt config.Portal, form web.Form) {
	h.o.Pages.Render(w, r, http.StatusOK, web.Page{Name: "forgot", Title: "忘记密码", Step: "forgot", Portal: pt, Form: form,
		Steps: web.Steps(changeLabels, 0)})
}

// start takes the ID number and begins the flow. It does not say whether
// the number is registered.
func (h *Handler) start(w http.ResponseWriter, r *http.Request, pt config.Portal) {
	var form web.Form
	idNumber := cnid.Normalize(r.PostFormValue("id_number"))
	form.Set("id_number", idNumber)
	if _, err := cnid.Parse(idNumber, h.o.Now()); err != nil {
		form.Fail("id_number", "请填写正确的18位身份证号码。")
		h.forgot(w, r, pt, form)
		return
	}
	if !h.starter.Allow(w, r) {
		return
	}
	st := State{Portal: pt.ID, Step: StepOptions, IDNumber: idNumber}
	a, err := h.o.Accounts.ByIDNumber(r.Context(), idNumber)
	switch {
	case err == nil:
		st.AccountID = a.ID
	case !errors.Is(err, account.ErrNotFound):
		httpserver.Error(w, r, http.StatusInternalServerError, "", err)
		return
	}
	binding, err := h.o.Sessions.Binding(w, r)
	if err != nil {
		httpserver.Error(w, r, http.StatusServiceUnavailable, "", err)
		return
	}
	f, err := flow.Create(r.Context(), h.o.Flows, Kind, binding, h.o.RealName.FlowTTL.D(), st)
	if err != nil {
		httpserver.Error(w, r, http.StatusServiceUnavailable, "", err)
		return
	}
	if err := h.o.Sessions.SetFlowID(w, r, Kind, f.ID); err != nil {
		httpserver.Error(w, r, http.StatusServiceUnavailable, "", err)
		return
	}
	http.Redirect(w, r, h.url(pt, f.ID, StepOptions), http.StatusSeeOther)
}

func (h *Handler) options(w http.ResponseWriter, r *http.Request, c *call) {
	p := h.page(c, "forgot_options", "选择业务")
	p.Data = web.OptionsData{ChangeURL: h.url(c.pt, c.f.ID, StepChange), ResetURL: h.url(c.pt, c.f.ID, StepReset),
		MaskedID: cnid.MaskID(c.state().IDNumber)}
	h.o.Pages.Render(w, r, http.StatusOK, p)
}

// done ends the journey with what to do next.
func (h *Handler) done(w http.ResponseWriter, r *http.Request, c *call) {
	p := h.page(c, "message", "办理完成")
	if c.state().Step == StepResetDone {
		p.Title = "密码已重置"
		p.Notices = []web.Notice{{Tone: web.ToneOK, Text: "密码已重置。请关闭所有页面，重新进入后用新密码登录。"}}
		p.Data = web.Message{Actions: []web.Action{{Label: "登录", URL: "/" + c.pt.ID + "/login", Primary: true}}}
	} else {
		p.Title = "手机号码已修改"
		p.Notices = []web.Notice{{Tone: web.ToneOK, Text: "手机号码已修改。请关闭所有页面，重新进入后使用验码登录。"}}
		p.Data = web.Message{
			Paragraphs: []string{"报名系统会自动使用新的手机号码。为了安全，该账号在所有电脑上的登录都已退出。"},
			Actions:    []web.Action{{Label: "验码登录", URL: "/" + c.pt.ID + "/login?tab=sms", Primary: true}},
		}
	}
	h.o.Pages.Render(w, r, http.StatusOK, p)
}
