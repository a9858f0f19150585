// Package web serves the registration app over HTTP: the candidate's nine
// steps under /{portal}/exam/, the operators' pages under /operator/, and
// the app's stylesheets under /static/registration/. Pages are
// server-rendered, Simplified Chinese, and work without JavaScript.
package web

import (
	"bytes"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk/cnid"
	"github.com/shiming-id/shiming/registration"
	"github.com/shiming-id/shiming/registration/catalog"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// maxFormBytes bounds a candidate's form post.
const maxFormBytes = 1 << 20

// Config configures a Handler. Service, Operators, OperatorSessions,
// ValidPortal and LoginURL are required.
type Config struct {
	Service          *registration.Service
	Operators        registration.Operators
	OperatorSessions registration.OperatorSessions
	// ValidPortal reports whether a portal id (hunanpea, hxw, zwfw, …)
	// exists; other ids get 404.
	ValidPortal func(portal string) bool
	// Portals, if set, are registered as literal path segments
	// (/hunanpea/exam/…) instead of a {portal} wildcard, so the routes
	// live beside other wildcard routes such as /callback/{provider}
	// without a ServeMux conflict.
	Portals []string
	// LoginURL is where a candidate without a session is sent, with next
	// the path to come back to, e.g. /hunanpea/login?next=….
	LoginURL func(portal, next string) string
	// SignOutURL, if set, is where the 完成并退出 button posts.
	SignOutURL func(portal string) string
	// StaticURL, if set, returns the URL of a static file by name
	// ("shiming.css", "registration/registration.css"), such as the
	// gateway's versioned asset URLs; the gateway then serves Static()
	// itself and Register leaves /static/registration/ alone. If nil,
	// Register serves Static() under /static/ and pages use plain URLs.
	StaticURL func(name string) string
	// Logger receives request errors; nil discards them.
	Logger *slog.Logger
}

// Handler serves the registration pages.
type Handler struct {
	svc         *registration.Service
	operators   registration.Operators
	opSessions  registration.OperatorSessions
	validPortal func(string) bool
	loginURL    func(portal, next string) string
	signOutURL  func(string) string
	staticURL   func(string) string
	portals     []string
	log         *slog.Logger
	pages       map[string]*template.Template
	static      http.Handler
}

// New parses the embedded templates and returns a Handler.
func New(cfg Config) (*Handler, error) {
	var missing []string
	if cfg.Service == nil {
		missing = append(missing, "Service")
	}
	if cfg.Operators == nil {
		missing = append(missing, "Operators")
	}
	if cfg.OperatorSessions == nil {
		missing = append(missing, "OperatorSessions")
	}
	if cfg.ValidPortal == nil {
		missing = append(missing, "ValidPortal")
	}
	if cfg.LoginURL == nil {
		missing = append(missing, "LoginURL")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("registration/web: config lacks %v", missing)
	}
	h := &Handler{
		svc: cfg.Service, operators: cfg.Operators, opSessions: cfg.OperatorSessions,
		validPortal: cfg.ValidPortal, loginURL: cfg.LoginURL, signOutURL: cfg.SignOutURL, staticURL: cfg.StaticURL, portals: cfg.Portals, log: cfg.Logger,
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.staticURL == nil {
		h.static = http.StripPrefix("/static/", http.FileServerFS(Static()))
		h.staticURL = func(name string) string { return "/static/" + name }
	}
	pages, err := parseTemplates(h.funcs())
	if err != nil {
		return nil, err
	}
	h.pages = pages
	return h, nil
}

// Static returns the app's static files (registration/registration.css,
// registration/print.css), rooted so that each name maps to /static/name.
func Static() fs.FS {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic("registration/web: embedded static files: " + err.Error()) // fixed at build time
	}
	return sub
}

// Mux is where Register adds routes: an *http.ServeMux, or the gateway's
// router, which wraps one.
type Mux interface {
	Handle(pattern string, h http.Handler)
	HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request))
}

// Register adds every route to mux, with Go 1.22 method and wildcard
// patterns.
func (h *Handler) Register(mux Mux) {
	if h.static != nil {
		mux.Handle("GET /static/registration/", h.static)
	}
	h.register(portalMux{mux: mux, portals: h.portals})
}

// portalMux expands "/{portal}/" patterns into one literal pattern per
// portal, setting the portal path value for the handler.
type portalMux struct {
	mux     Mux
	portals []string
}

func (m portalMux) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	const wild = "/{portal}/"
	if len(m.portals) == 0 || !strings.Contains(pattern, wild) {
		m.mux.HandleFunc(pattern, f)
		return
	}
	for _, p := range m.portals {
		m.mux.HandleFunc(strings.Replace(pattern, wild, "/"+p+"/", 1), func(w http.ResponseWriter, r *http.Request) {
			r.SetPathValue("portal", p)
			f(w, r)
		})
	}
}

func (h *Handler) register(mux portalMux) {
	const exam = "/{portal}/exam/{exam}"
	mux.HandleFunc("GET /{portal}/exam", h.addSlash)
	mux.HandleFunc("GET /{portal}/exam/{$}", h.examsPage)
	mux.HandleFunc("GET "+exam, h.addSlash)
	mux.HandleFunc("GET "+exam+"/{$}", h.statusPage)
	mux.HandleFunc("GET "+exam+"/start", h.start)
	mux.HandleFunc("GET "+exam+"/pledge", h.pledgePage)
	mux.HandleFunc("POST "+exam+"/pledge", h.pledgePost)
	mux.HandleFunc("GET "+exam+"/notice", h.noticePage)
	mux.HandleFunc("POST "+exam+"/notice", h.noticePost)
	mux.HandleFunc("GET "+exam+"/info", h.infoPage)
	mux.HandleFunc("POST "+exam+"/info", h.infoSubmit)
	mux.HandleFunc("GET "+exam+"/info/{page}", h.infoFormPage)
	mux.HandleFunc("POST "+exam+"/info/{page}", h.infoFormPost)
	mux.HandleFunc("GET "+exam+"/position", h.positionPage)
	mux.HandleFunc("POST "+exam+"/position", h.positionPost)
	mux.HandleFunc("GET "+exam+"/terms", h.termsPage)
	mux.HandleFunc("POST "+exam+"/terms", h.termsPost)
	mux.HandleFunc("GET "+exam+"/review", h.reviewPage)
	mux.HandleFunc("POST "+exam+"/review/change-position", h.changePositionPost)
	mux.HandleFunc("POST "+exam+"/review/reapply", h.reapplyPost)
	mux.HandleFunc("POST "+exam+"/review/next", h.proceedPost)
	mux.HandleFunc("GET "+exam+"/confirm", h.confirmPage)
	mux.HandleFunc("POST "+exam+"/confirm", h.confirmPost)
	mux.HandleFunc("GET "+exam+"/complete", h.completePage)
	mux.HandleFunc("GET "+exam+"/print", h.printPage)

	mux.HandleFunc("GET /operator/login", h.operatorLoginPage)
	mux.HandleFunc("POST /operator/login", h.operatorLoginPost)
	mux.HandleFunc("POST /operator/logout", h.operatorLogout)
	mux.HandleFunc("GET /operator/{$}", h.operatorHome)
	mux.HandleFunc("GET /operator/catalog", h.catalogPage)
	mux.HandleFunc("POST /operator/catalog", h.catalogPost)
	mux.HandleFunc("GET /operator/exams/{exam}/catalog.csv", h.catalogDownload)
	mux.HandleFunc("GET /operator/exams/{exam}/stats", h.statsPage)
	mux.HandleFunc("GET /operator/exams/{exam}/export", h.exportPage)
	mux.HandleFunc("POST /operator/exams/{exam}/export", h.exportPost)
}

// addSlash sends /{portal}/exam and /{portal}/exam/{exam} to the same
// path with a trailing slash.
func (h *Handler) addSlash(w http.ResponseWriter, r *http.Request) {
	if !h.validPortal(r.PathValue("portal")) {
		h.notFound(w, r)
		return
	}
	http.Redirect(w, r, r.URL.EscapedPath()+"/", http.StatusMovedPermanently)
}

// pageFiles are the page templates; each is parsed with layout.html and
// defines "title" and "content".
var pageFiles = []string{
	"exams", "status", "window", "pledge", "notice", "info", "info_basic", "info_education", "info_work", "info_other",
	"position", "terms", "review", "confirm", "complete", "print", "error",
	"operator_login", "operator_home", "operator_catalog", "operator_stats", "operator_export", "operator_export_confirm",
}

// funcs are the template helpers.
func (h *Handler) funcs() template.FuncMap {
	return template.FuncMap{
		"static": h.staticURL,
		"date": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.In(catalog.Location()).Format("2006年1月2日")
		},
		"datetime": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.In(catalog.Location()).Format("2006年1月2日 15:04")
		},
		"number": registration.FormatNumber,
		"region": regionName,
		"lines":  func(s string) []string { return strings.Split(s, "\n") },
	}
}

func parseTemplates(funcs template.FuncMap) (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	for _, name := range pageFiles {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS,
			"templates/layout.html", "templates/partials.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("registration/web: parse template %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// view is what every page template gets.
type view struct {
	Title     string
	Portal    string
	Base      string // /{portal}/exam/{exam}, for candidate links
	Exam      *catalog.Exam
	Candidate *candidateView
	Operator  string
	SignOut   string
	Steps     []stepView
	Form      url.Values
	Errors    registration.FieldErrors
	Message   string // a problem with the whole form
	ErrorID   string
	Data      any
}

type candidateView struct {
	Name       string // in full on the pages that show the verified data
	MaskedName string // in the header, on every page
	ID         string // masked
	Phone      string // masked, read now
	Birth      time.Time
	Gender     string
}

func newCandidateView(c registration.Candidate) *candidateView {
	return &candidateView{
		Name:       c.Name(),
		MaskedName: cnid.MaskName(c.Name()),
		ID:         cnid.MaskID(c.IDNumber()),
		Phone:      cnid.MaskPhone(c.Phone()),
		Birth:      c.BirthDate(),
		Gender:     catalog.GenderText(c.Gender()),
	}
}

// render executes a page into a buffer first, so that a template error
// becomes a clean error page rather than half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view) {
	t, ok := h.pages[name]
	if !ok {
		h.fail(w, r, fmt.Errorf("registration/web: no page %q", name))
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		h.fail(w, r, fmt.Errorf("registration/web: render %s: %w", name, err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// Pages carry personal data and state; never cache them.
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// fail logs err with an error id and shows a page quoting the id.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	id := strings.ToLower(rand.Text()[:10])
	h.log.ErrorContext(r.Context(), "registration/web: request failed", "error_id", id, "method", r.Method, "path", r.URL.Path, "err", err)
	v := &view{Title: "系统繁忙", ErrorID: id, Message: "系统暂时无法处理您的请求，请稍后再试。如需咨询，请告知错误编号。"}
	h.renderError(w, http.StatusInternalServerError, v)
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.renderError(w, http.StatusNotFound, &view{Title: "页面不存在", Message: "您访问的页面不存在，请从报名入口重新进入。"})
}

func (h *Handler) renderError(w http.ResponseWriter, status int, v *view) {
	var buf bytes.Buffer
	if err := h.pages["error"].ExecuteTemplate(&buf, "layout", v); err != nil {
		http.Error(w, "系统错误 "+v.ErrorID, status)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// seeOther redirects after a POST (or to the current step).
func seeOther(w http.ResponseWriter, r *http.Request, to string) {
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func regionName(code string) string {
	for _, r := range catalog.CandidateRegions() {
		if r.Code == code {
			return r.Name
		}
	}
	return code
}

func isNotFound(err error) bool { return errors.Is(err, registration.ErrNotFound) }
