// Package realname serves real-name registration (获取实名认证 →
// 开始实名认证), the guide's way of opening an account: choose WeChat,
// Alipay or CTID and scan; 实名登录 with name and ID number, checked
// against the scan provider's identity or a name/ID (二要素) vendor, with
// the CTID path offered on a mismatch; bind a phone by SMS code; pass a
// face verification; set a password. The account is then created with
// its evidence and the candidate is sent to the login page of the portal
// they came from.
package realname

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/shiming-id/shiming/gateway/account"
	"github.com/shiming-id/shiming/gateway/config"
	"github.com/shiming-id/shiming/gateway/flowpage"
	"github.com/shiming-id/shiming/gateway/httpserver"
	"github.com/shiming-id/shiming/gateway/journey/metrics"
	"github.com/shiming-id/shiming/gateway/scan"
	"github.com/shiming-id/shiming/gateway/smscode"
	"github.com/shiming-id/shiming/gateway/web"
	"github.com/shiming-id/shiming/plugins/sdk"
)

// Kind is the flow kind of real-name registration.
const Kind = "realname"

// Steps of the flow, in order.
const (
	StepChoose   = "choose"
	StepScan     = "scan"
	StepIdentity = "identity"
	StepPhone    = "phone"
	StepFace     = "face"
	StepPassword = "password"
)

var (
	stepOrder  = []string{StepChoose, StepScan, StepIdentity, StepPhone, StepFace, StepPassword}
	stepLabels = []string{"选择方式", "扫码", "实名登录", "绑定手机", "人脸识别", "设置密码", "完成"}
)

// maxChecks bounds the name/ID checks of one flow: each costs money.
const maxChecks = 5

// State is the flow's state.
type State struct {
	Portal string `json:"portal"`
	Step   string `json:"step"`
	// Provider is the scan provider, or oidc:<issuer> for a flow begun
	// from trusted government-portal claims.
	Provider string       `json:"provider,omitempty"`
	Scan     scan.Session `json:"scan"`
	Name     string       `json:"name,omitempty"`
	IDNumber string       `json:"id_number,omitempty"`
	// Mismatch is set when the last name/ID check failed; it opens the
	// CTID path.
	Mismatch bool `json:"mismatch,omitempty"`
	// MismatchBy is the provider whose name/ID mismatch was counted, kept
	// until 实名登录 passes so that passing by CTID counts as its recovery.
	MismatchBy string `json:"mismatch_by,omitempty"`
	Checks     int    `json:"checks,omitempty"`
	// Evidence and Links gathered at 实名登录 (or from OIDC claims).
	Evidence  []account.Evidence `json:"evidence,omitempty"`
	Links     []account.Link     `json:"links,omitempty"`
	SMS       smscode.Ticket     `json:"sms"`
	Phone     string             `json:"phone,omitempty"`
	PhoneAt   time.Time          `json:"phone_at,omitzero"`
	Face      scan.FaceSession   `json:"face"`
	Prefilled bool               `json:"prefilled,omitempty"`
}

// current is the step the candidate is at: a finished scan or face
// session moves the flow on without a write.
func (s *State) current() string {
	switch {
	case s.Step == StepScan && s.Scan.Phase == scan.Done:
		return StepIdentity
	case s.Step == StepFace && s.Face.Phase == scan.FacePassed:
		return StepPassword
	}
	return s.Step
}

// Providers gives the identity checker by name.
type Providers interface {
	IdentityChecker(name string) (sdk.IdentityChecker, error)
}

// Options configure the handlers.
type Options struct {
	flowpage.Deps
	RealName config.RealName
	// PublicURL is the gateway's base URL as browsers reach it.
	PublicURL string
	Providers Providers
}

// Handler serves real-name registration.
type Handler struct {
	o     Options
	flows flowpage.FlowKind[State]
	faces flowpage.FaceStep[State]
}

// New returns the handlers.
func New(o Options) (*Handler, error) {
	if err := o.Deps.Init(); err != nil {
		return nil, fmt.Errorf("realname: %w", err)
	}
	if o.Providers == nil {
		return nil, fmt.Errorf("realname: %w", flowpage.ErrMissingDependency)
	}
	h := &Handler{o: o}
	h.flows = flowpage.FlowKind[State]{Name: Kind, Deps: &h.o.Deps,
		Portal: func(s *State) string { return s.Portal },
		SMS:    func(s *State) *smscode.Ticket { return &s.SMS },
		Scan:   func(s *State) *scan.Session { return &s.Scan },
		Face:   func(s *State) *scan.FaceSession { return &s.Face },
	}
	h.faces = flowpage.FaceStep[State]{Flows: h.flows, Page: h.page, PublicURL: o.PublicURL, At: h.faceAt}
	return h, nil
}

// route is a handler of one flow step.
type route func(w http.ResponseWriter, r *http.Request, c *call)

// call is one request about a flow.
type call = flowpage.Call[State]

// Register adds the routes, for every portal p:
//
//	GET  /p/realname/                      获取实名认证
//	POST /p/realname/start                 开始实名认证 (creates the flow)
//	GET|POST /p/realname/{flow}/choose     微信 / 支付宝 / 网证CTID
//	GET|POST /p/realname/{flow}/qr         QR page; POST is 我已扫码 or a retry
//	GET  /p/realname/{flow}/qr.png, /status
//	GET|POST /p/realname/{flow}/identity   实名登录
//	POST /p/realname/{flow}/ctid           switch to CTID after a mismatch
//	GET|POST /p/realname/{flow}/phone      bind the phone by SMS code
//	GET|POST /p/realname/{flow}/face       开始人脸识别, 我已完成
//	GET  /p/realname/{flow}/face/qr.png, /face/status
//	GET|POST /p/realname/{flow}/password   set the password; creates the account
func (h *Handler) Register(r httpserver.Registrar) {
	for _, pt := range h.o.Portals {
		base := "/" + pt.ID + "/realname/"
		page := func(f http.HandlerFunc) http.Handler { return h.o.Desktop(pt, f) }
		r.Handle("GET "+base+"{$}", page(func(w http.ResponseWriter, r *http.Request) { h.intro(w, r, pt) }))
		r.Handle("POST "+base+"start", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.start(w, r, pt) }))
		steps := []struct {
			method, path, step string
			fn                 route
			desktop            bool
		}{
			{"GET", "choose", StepChoose, h.choose, true},
			{"POST", "choose", StepChoose, h.chooseSubmit, false},
			{"GET", "qr", StepScan, h.qr, true},
			{"POST", "qr", StepScan, h.qrSubmit, false},
			{"GET", "qr.png", "", h.qrImage, false},
			{"GET", "status", "", h.status, false},
			{"GET", "identity", StepIdentity, h.identity, true},
			{"POST", "identity", StepIdentity, h.identitySubmit, false},
			{"POST", "ctid", StepIdentity, h.ctid, false},
			{"GET", "phone", StepPhone, h.phone, true},
			{"POST", "phone", StepPhone, h.phoneSubmit, false},
			{"GET", "face", StepFace, h.faces.Show, true},
			{"POST", "face", StepFace, h.faces.Submit, false},
			{"GET", "face/qr.png", "", h.faces.Image, false},
			{"GET", "face/status", "", h.faces.Status, false},
			{"GET", "password", StepPassword, h.password, true},
			{"POST", "password", StepPassword, h.passwordSubmit, false},
		}
		for _, s := range steps {
			hd := h.step(pt, s.step, s.fn)
			if s.desktop {
				hd = h.o.Desktop(pt, hd)
			}
			r.Handle(s.method+" "+base+"{flow}/"+s.path, hd)
		}
	}
}

// step loads the flow and keeps the candidate at the flow's current
// step: a request for another step (later or earlier) is redirected to
// the current one. An empty step accepts any (images, status).
func (h *Handler) step(pt config.Portal, step string, fn route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := h.flows.Open(w, r, pt)
		if c == nil {
			return
		}
		cur := c.State().current()
		if step != "" && step != cur && !(step == StepChoose && cur == StepScan) {
			http.Redirect(w, r, h.url(pt, c.Flow.ID, cur), http.StatusSeeOther)
			return
		}
		fn(w, r, c)
	})
}

// url is the page of a step.
func (h *Handler) url(pt config.Portal, id, step string) string {
	base := "/" + pt.ID + "/realname/" + id + "/"
	switch step {
	case StepScan:
		return base + "qr"
	case "":
		return "/" + pt.ID + "/realname/"
	}
	return base + step
}

// page returns a page of the flow with its step indicator.
func (h *Handler) page(c *call, name, title string) web.Page {
	cur := c.State().current()
	return web.Page{Name: name, Title: title, Step: cur, Portal: c.Portal,
		Steps: web.Steps(stepLabels, slices.Index(stepOrder, cur))}
}

// update applies a pure change to the flow.
func (h *Handler) update(r *http.Request, c *call, change func(*State) error) (*State, error) {
	return c.Update(r.Context(), h.o.Flows, change)
}

func (h *Handler) intro(w http.ResponseWriter, r *http.Request, pt config.Portal) {
	h.o.Pages.Render(w, r, http.StatusOK, web.Page{Name: "realname_intro", Title: "获取实名认证", Step: "intro", Portal: pt,
		Steps: web.Steps(stepLabels, -1)})
}

// start is 开始实名认证: a new flow bound to this browser.
func (h *Handler) start(w http.ResponseWriter, r *http.Request, pt config.Portal) {
	if !h.o.Starter().Allow(w, r) {
		return
	}
	c, err := h.flows.Begin(w, r, pt, State{Portal: pt.ID, Step: StepChoose})
	if err != nil {
		httpserver.Error(w, r, http.StatusServiceUnavailable, "", err)
		return
	}
	http.Redirect(w, r, h.url(pt, c.Flow.ID, StepChoose), http.StatusSeeOther)
}

// Prefill is what trusted government-portal claims give a registration.
type Prefill struct {
	// Provider is oidc:<issuer>.
	Provider       string
	Name, IDNumber string
	Evidence       account.Evidence
	Link           account.Link
}

// StartFromClaims begins a registration whose identity came from trusted
// OIDC claims: the scan and 实名登录 steps are skipped. It returns the URL
// of the first step to show.
func (h *Handler) StartFromClaims(w http.ResponseWriter, r *http.Request, pt config.Portal, p Prefill) (string, error) {
	st := State{Portal: pt.ID, Step: StepPhone, Provider: p.Provider, Name: p.Name, IDNumber: p.IDNumber,
		Evidence: []account.Evidence{p.Evidence}, Links: []account.Link{p.Link}, Prefilled: true}
	c, err := h.flows.Begin(w, r, pt, st)
	if err != nil {
		return "", err
	}
	h.o.Metrics.Flow(pt.ID, metrics.ProviderOIDC, metrics.FlowStarted)
	return h.url(pt, c.Flow.ID, StepPhone), nil
}

// metricProvider is the provider label of the flow's outcomes.
func (s *State) metricProvider() string {
	if s.Prefilled {
		return metrics.ProviderOIDC
	}
	return s.Provider
}

func (h *Handler) message(w http.ResponseWriter, r *http.Request, c *call, status int, title string, n web.Notice, m web.Message) {
	p := h.page(c, "message", title)
	p.Notices = []web.Notice{n}
	p.Data = m
	h.o.Pages.Render(w, r, status, p)
}

// registered tells that the ID number already has an account.
func (h *Handler) registered(w http.ResponseWriter, r *http.Request, c *call) {
	h.o.Metrics.Flow(c.Portal.ID, c.State().metricProvider(), metrics.FlowAlreadyRegistered)
	h.message(w, r, c, http.StatusOK, "已完成实名注册",
		web.Notice{Tone: web.ToneWarn, Kind: "already_registered", Text: "该身份证号码已完成实名注册。"},
		web.Message{
			Paragraphs: []string{"请直接登录。如果忘记了密码，或者更换了手机号码，请点击“忘记密码”。"},
			Actions: []web.Action{
				{Label: "登录", URL: "/" + c.Portal.ID + "/login", Primary: true},
				{Label: "忘记密码", URL: "/" + c.Portal.ID + "/forgot"},
			},
		})
}
