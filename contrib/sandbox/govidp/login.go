package govidp

import (
	"bytes"
	"crypto/subtle"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"

	"github.com/shiming-id/shiming/contrib/sandbox/citizens"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

// Paths of the IdP's own pages, under the issuer.
const (
	loginPath     = "/login"
	loggedOutPath = "/logged-out"
	callbackPath  = "/authorize/callback" // the op package's; takes ?id=
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

func parsePages() (*template.Template, error) {
	t, err := template.New("").ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("govidp: templates: %w", err)
	}
	return t, nil
}

func staticHandler() http.Handler {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		// The embedded tree always has the static folder.
		panic("govidp: static files: " + err.Error())
	}
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}

// loginPage is what the login template shows.
type loginPage struct {
	Static    string
	Action    string
	RequestID string
	IDNumber  string
	Error     string
	Password  string
	Citizens  []citizens.Citizen
}

// serveLogin shows the login form (GET) and checks it (POST). A registered
// citizen signs in with the ID number and SandboxPassword.
func (p *IdP) serveLogin(w http.ResponseWriter, r *http.Request) {
	page := loginPage{
		Static:   p.issuer + "/static/",
		Action:   p.issuer + loginPath,
		Password: SandboxPassword,
		Citizens: p.reg.All(),
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		page.RequestID = r.URL.Query().Get("authRequestID")
		if !p.store.pendingRequest(page.RequestID) {
			p.render(w, http.StatusBadRequest, "expired.html", page)
			return
		}
		p.render(w, http.StatusOK, "login.html", page)
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		page.RequestID = r.PostForm.Get("authRequestID")
		page.IDNumber = cnid.Normalize(r.PostForm.Get("id_number"))
		if !p.store.pendingRequest(page.RequestID) {
			p.render(w, http.StatusBadRequest, "expired.html", page)
			return
		}
		c, registered := p.reg.ByIDNumber(page.IDNumber)
		password := r.PostForm.Get("password")
		if !registered || subtle.ConstantTimeCompare([]byte(password), []byte(SandboxPassword)) != 1 {
			p.log.Info("govidp: login refused", "id_number", cnid.MaskID(page.IDNumber))
			page.Error = "身份证号码或密码不正确"
			p.render(w, http.StatusOK, "login.html", page)
			return
		}
		if err := p.store.completeLogin(page.RequestID, p.subject(c)); err != nil {
			p.render(w, http.StatusBadRequest, "expired.html", page)
			return
		}
		p.log.Info("govidp: login", "id_number", cnid.MaskID(c.IDNumber))
		http.Redirect(w, r, p.issuer+callbackPath+"?id="+url.QueryEscape(page.RequestID), http.StatusFound)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (p *IdP) serveLoggedOut(w http.ResponseWriter, r *http.Request) {
	p.render(w, http.StatusOK, "logged-out.html", loginPage{Static: p.issuer + "/static/"})
}

func (p *IdP) render(w http.ResponseWriter, status int, name string, data any) {
	var b bytes.Buffer
	if err := p.pages.ExecuteTemplate(&b, name, data); err != nil {
		p.log.Error("govidp: render page", "page", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}
