// Package phonechange serves 忘记密码: the guide's nine-step change of the
// bound phone number (ID number → 修改手机号码 → name, new number and an
// SMS code to the new number → face verification → confirm), and a
// password reset by an SMS code to the current number. The name must match
// the account before any SMS is sent, the code is bound to the flow and to
// the new number, and the face must pass before the change is committed;
// the commit ends every session of the account, is audited, and then
// tells the old number by SMS (best effort: the change stands without it).
package phonechange

import (
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/shiming-id/shiming/gateway/account"
	"github.com/shiming-id/shiming/gateway/config"
	"github.com/shiming-id/shiming/gateway/flowpage"
	"github.com/shiming-id/shiming/gateway/httpserver"
	"github.com/shiming-id/shiming/gateway/ratelimit"
	"github.com/shiming-id/shiming/gateway/scan"
	"github.com/shiming-id/shiming/gateway/smscode"
	"github.com/shiming-id/shiming/gateway/web"
	"github.com/shiming-id/shiming/plugins/sdk"
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
	flowpage.Deps
	RealName config.RealName
	// PublicURL is the gateway's base URL as browsers reach it.
	PublicURL string
	Guard     *ratelimit.PasswordGuard
	// Notifiers gives the SMS provider's notices, sent to the old number
	// after a change (journey.Providers).
	Notifiers interface {
		PhoneNotifier(name string) (sdk.PhoneNotifier, error)
	}
}

// Handler serves 忘记密码.
type Handler struct {
	o     Options
	flows flowpage.FlowKind[State]
	faces flowpage.FaceStep[State]
}

// New returns the handlers.
func New(o Options) (*Handler, error) {
	if err := o.Deps.Init(); err != nil {
		return nil, fmt.Errorf("phonechange: %w", err)
	}
	if o.Guard == nil || o.Notifiers == nil {
		return nil, fmt.Errorf("phonechange: %w", flowpage.ErrMissingDependency)
	}
	if o.RealName.PhoneChangeFace == "" {
		return nil, errors.New("phonechange: realname.phone_change_face names no face provider")
	}
	h := &Handler{o: o}
	h.flows = flowpage.FlowKind[State]{Name: Kind, Deps: &h.o.Deps,
		Portal: func(s *State) string { return s.Portal },
		SMS:    func(s *State) *smscode.Ticket { return &s.SMS },
		Face:   func(s *State) *scan.FaceSession { return &s.Face },
	}
	h.faces = flowpage.FaceStep[State]{Flows: h.flows, Page: h.page, PublicURL: o.PublicURL, At: h.faceAt}
	return h, nil
}

// call is one request about a flow.
type call = flowpage.Call[State]

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
			{"GET", "face", []string{StepFace}, h.faces.Show, true},
			{"POST", "face", []string{StepFace}, h.faces.Submit, false},
			{"GET", "face/qr.png", nil, h.faces.Image, false},
			{"GET", "face/status", nil, h.faces.Status, false},
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
		c := h.flows.Open(w, r, pt)
		if c == nil {
			return
		}
		cur := c.State().current()
		if allowed != nil && !slices.Contains(allowed, cur) {
			http.Redirect(w, r, h.url(pt, c.Flow.ID, cur), http.StatusSeeOther)
			return
		}
		fn(w, r, c)
	})
}

func (h *Handler) url(pt config.Portal, id, step string) string {
	if step == StepResetDone {
		step = StepDone
	}
	return "/" + pt.ID + "/forgot/" + id + "/" + step
}

func (h *Handler) page(c *call, name, title string) web.Page {
	cur := c.State().current()
	p := web.Page{Name: name, Title: title, Step: cur, Portal: c.Portal}
	if i := slices.Index(changeOrder, cur); i >= 0 {
		p.Steps = web.Steps(changeLabels, i)
	}
	return p
}

func (h *Handler) update(r *http.Request, c *call, change func(*State) error) (*State, error) {
	return c.Update(r.Context(), h.o.Flows, change)
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
	if !h.o.Starter().Allow(w, r) {
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
	c, err := h.flows.Begin(w, r, pt, st)
	if err != nil {
		httpserver.Error(w, r, http.StatusServiceUnavailable, "", err)
		return
	}
	http.Redirect(w, r, h.url(pt, c.Flow.ID, StepOptions), http.StatusSeeOther)
}

func (h *Handler) options(w http.ResponseWriter, r *http.Request, c *call) {
	p := h.page(c, "forgot_options", "选择业务")
	p.Data = web.OptionsData{ChangeURL: h.url(c.Portal, c.Flow.ID, StepChange), ResetURL: h.url(c.Portal, c.Flow.ID, StepReset),
		MaskedID: cnid.MaskID(c.State().IDNumber)}
	h.o.Pages.Render(w, r, http.StatusOK, p)
}

// done ends the journey with what to do next.
func (h *Handler) done(w http.ResponseWriter, r *http.Request, c *call) {
	p := h.page(c, "message", "办理完成")
	if c.State().Step == StepResetDone {
		p.Title = "密码已重置"
		p.Notices = []web.Notice{{Tone: web.ToneOK, Text: "密码已重置。请关闭所有页面，重新进入后用新密码登录。"}}
		p.Data = web.Message{Actions: []web.Action{{Label: "登录", URL: "/" + c.Portal.ID + "/login", Primary: true}}}
	} else {
		p.Title = "手机号码已修改"
		p.Notices = []web.Notice{{Tone: web.ToneOK, Text: "手机号码已修改。请关闭所有页面，重新进入后使用验码登录。"}}
		p.Data = web.Message{
			Paragraphs: []string{"报名系统会自动使用新的手机号码。为了安全，该账号在所有电脑上的登录都已退出。"},
			Actions:    []web.Action{{Label: "验码登录", URL: "/" + c.Portal.ID + "/login?tab=sms", Primary: true}},
		}
	}
	h.o.Pages.Render(w, r, http.StatusOK, p)
}
