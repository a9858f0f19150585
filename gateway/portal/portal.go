// Package portal serves the entry points candidates arrive from: the
// portal chooser, each portal's home with the guide's notices and entry
// buttons, the candidate's home after sign-in with 开始报名 and 完成并退出,
// and the desktop-only page the guide requires for phones and tablets.
package portal

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/shiming-id/shiming/gateway/account"
	"github.com/shiming-id/shiming/gateway/audit"
	"github.com/shiming-id/shiming/gateway/config"
	"github.com/shiming-id/shiming/gateway/httpserver"
	"github.com/shiming-id/shiming/gateway/journey/metrics"
	"github.com/shiming-id/shiming/gateway/session"
	"github.com/shiming-id/shiming/gateway/web"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

// Options configure the portal pages.
type Options struct {
	Portals []config.Portal
	// Issuers are the government-portal login buttons.
	Issuers  []web.Choice
	Sessions *session.Manager
	Accounts *account.Service
	Audit    *audit.Log
	Pages    *web.Renderer
	Metrics  *metrics.Journeys
	Logger   *slog.Logger
}

// Portals serves the portal pages.
type Portals struct {
	o Options
}

// New returns the portal pages.
func New(o Options) (*Portals, error) {
	if o.Sessions == nil || o.Accounts == nil || o.Audit == nil || o.Pages == nil || o.Metrics == nil {
		return nil, errors.New("portal: sessions, accounts, audit, pages and metrics are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Portals{o: o}, nil
}

// ExamURL is where 开始报名 leads: the registration app of the portal.
func ExamURL(p config.Portal) string { return "/" + p.ID + "/exam/" }

// Register adds the routes: GET / (the chooser) and, for every portal,
// GET /{portal}/, GET /{portal}/home and POST /{portal}/logout.
func (p *Portals) Register(r httpserver.Registrar) {
	r.Handle("GET /{$}", http.HandlerFunc(p.chooser))
	for _, pt := range p.o.Portals {
		r.Handle("GET /"+pt.ID+"/{$}", p.DesktopOnly(pt, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { p.home(w, r, pt) })))
		r.Handle("GET /"+pt.ID+"/home", p.DesktopOnly(pt, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { p.candidate(w, r, pt) })))
		r.Handle("POST /"+pt.ID+"/logout", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { p.logout(w, r, pt) }))
	}
}

func (p *Portals) chooser(w http.ResponseWriter, r *http.Request) {
	p.o.Pages.Render(w, r, http.StatusOK, web.Page{Name: "portals", Title: "选择报名入口", Step: "portals",
		Data: web.PortalsData{Portals: p.o.Portals}})
}

func (p *Portals) home(w http.ResponseWriter, r *http.Request, pt config.Portal) {
	id, err := p.o.Sessions.AccountID(r)
	if err != nil {
		httpserver.Error(w, r, http.StatusServiceUnavailable, "", err)
		return
	}
	page := web.Page{Name: "portal", Title: "考生注册和报名", Step: "portal", Portal: pt, SignedIn: id != "",
		Data: web.PortalData{Issuers: p.o.Issuers, ExamURL: ExamURL(pt)}}
	p.o.Pages.Render(w, r, http.StatusOK, page)
}

// candidate is the candidate's home: masked identity, the verification
// record, 开始报名 and 完成并退出.
func (p *Portals) candidate(w http.ResponseWriter, r *http.Request, pt config.Portal) {
	id, err := p.o.Sessions.AccountID(r)
	if err != nil {
		httpserver.Error(w, r, http.StatusServiceUnavailable, "", err)
		return
	}
	if id == "" {
		http.Redirect(w, r, "/"+pt.ID+"/login", http.StatusSeeOther)
		return
	}
	a, err := p.o.Accounts.ByID(r.Context(), id)
	if errors.Is(err, account.ErrNotFound) {
		_ = p.o.Sessions.Destroy(w, r)
		http.Redirect(w, r, "/"+pt.ID+"/login", http.StatusSeeOther)
		return
	}
	if err != nil {
		httpserver.Error(w, r, http.StatusInternalServerError, "", err)
		return
	}
	ev, err := p.o.Accounts.Evidence(r.Context(), id)
	if err != nil {
		httpserver.Error(w, r, http.StatusInternalServerError, "", err)
		return
	}
	data := web.HomeData{Name: cnid.MaskName(a.Name), IDNumber: cnid.MaskID(a.IDNumber), Phone: cnid.MaskPhone(a.Phone), ExamURL: ExamURL(pt)}
	for _, e := range ev {
		data.Evidence = append(data.Evidence, web.EvidenceRow{
			Provider: p.providerName(e.Provider), Level: web.LevelName(e.Level),
			Date: e.VerifiedAt.In(shanghai).Format("2006-01-02 15:04"),
		})
	}
	p.o.Pages.Render(w, r, http.StatusOK, web.Page{Name: "home", Title: "考生首页", Step: "home", Portal: pt, SignedIn: true, Data: data})
}

// providerName shows oidc:<issuer> as the issuer's name.
func (p *Portals) providerName(name string) string {
	if id, ok := strings.CutPrefix(name, "oidc:"); ok {
		for _, iss := range p.o.Issuers {
			if iss.ID == id {
				return iss.Label
			}
		}
	}
	return web.ProviderName(name)
}

// logout is 完成并退出: the session ends on the server and in the browser.
func (p *Portals) logout(w http.ResponseWriter, r *http.Request, pt config.Portal) {
	id, _ := p.o.Sessions.AccountID(r)
	if err := p.o.Sessions.Destroy(w, r); err != nil {
		httpserver.Error(w, r, http.StatusInternalServerError, "", fmt.Errorf("portal: logout: %w", err))
		return
	}
	if id != "" {
		if err := p.o.Audit.Record(r.Context(), audit.KindLogout, id, "", map[string]string{"portal": pt.ID}); err != nil {
			httpserver.LoggerFrom(r.Context(), p.o.Logger).ErrorContext(r.Context(), "audit logout failed", slog.Any("error", err))
		}
	}
	p.o.Pages.Render(w, r, http.StatusOK, web.Page{Name: "message", Title: "您已安全退出", Step: "logged_out", Portal: pt,
		Notices: []web.Notice{{Tone: web.ToneOK, Text: "您已安全退出，请关闭浏览器。"}},
		Data: web.Message{
			Paragraphs: []string{"在公用电脑上办理时，请关闭浏览器的所有窗口，待再次打开浏览器后方可供他人使用。"},
			Actions:    []web.Action{{Label: "返回报名入口", URL: "/" + pt.ID + "/"}},
		}})
}
