// Package web renders the candidate pages of the gateway: embedded
// Simplified Chinese templates sharing one layout with the step indicator
// and notices, the fixed wording for every provider error kind, the QR
// images, and the small static script that keeps a QR page current. Pages
// carry data attributes (data-page, data-step, data-qr, data-error-kind,
// data-field-error) that browser tests and the load simulator read.
package web

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"

	"github.com/skip2/go-qrcode"

	"github.com/shiming-id/shiming/gateway/config"
	"github.com/shiming-id/shiming/gateway/httpserver"
)

//go:embed templates
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Static returns the static files the pages use (qr.js), for
// httpserver.NewAssets.
func Static() fs.FS {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic("web: static files: " + err.Error()) // embedded at build time
	}
	return sub
}

// Page is what every page shows.
type Page struct {
	// Name is the template (templates/<Name>.html) and the body's
	// data-page attribute.
	Name  string
	Title string
	// Step is the body's data-step attribute: where the journey stands.
	Step   string
	Portal config.Portal
	// Steps is the step indicator; empty hides it.
	Steps    []Step
	Notices  []Notice
	SignedIn bool
	// Form holds typed values and field errors.
	Form Form
	// Data is the page's own data.
	Data any
	// Script asks for qr.js.
	Script bool

	css, js string
}

// CSS is the stylesheet URL.
func (p Page) CSS() string { return p.css }

// JS is the QR script URL.
func (p Page) JS() string { return p.js }

// Step is one entry of the step indicator.
type Step struct {
	Label string
	// State is "done", "current" or "".
	State string
}

// Steps builds an indicator of labels with current the index of the
// current step.
func Steps(labels []string, current int) []Step {
	out := make([]Step, len(labels))
	for i, l := range labels {
		out[i].Label = l
		switch {
		case i < current:
			out[i].State = "done"
		case i == current:
			out[i].State = "current"
		}
	}
	return out
}

// Notice tones.
const (
	ToneInfo  = "info"
	ToneOK    = "ok"
	ToneWarn  = "warn"
	ToneError = "error"
)

// Notice is a message box. Kind, when set, is the data-error-kind
// attribute: the error kind (sdk kind or a journey's own) it explains.
type Notice struct {
	Tone string
	Kind string
	Text string
}

// Form keeps what the candidate typed and what is wrong with it.
type Form struct {
	Values map[string]string
	Errors map[string]string
}

// Value returns a typed value.
func (f Form) Value(name string) string { return f.Values[name] }

// Error returns a field's error.
func (f Form) Error(name string) string { return f.Errors[name] }

// Invalid reports whether a field has an error.
func (f Form) Invalid(name string) bool { return f.Errors[name] != "" }

// Set records a typed value.
func (f *Form) Set(name, value string) {
	if f.Values == nil {
		f.Values = map[string]string{}
	}
	f.Values[name] = value
}

// Fail records a field error.
func (f *Form) Fail(name, msg string) {
	if f.Errors == nil {
		f.Errors = map[string]string{}
	}
	f.Errors[name] = msg
}

// OK reports whether no field has an error.
func (f Form) OK() bool { return len(f.Errors) == 0 }

// FieldView is one form field as the "field" template draws it.
type FieldView struct {
	Name, Label, Type, Value, Error, Hint string
}

// field builds a FieldView from a form, for templates:
// {{template "field" (field .Form "name" "姓名" "text" "hint")}}.
func field(f Form, name, label, typ string, hint ...string) FieldView {
	v := FieldView{Name: name, Label: label, Type: typ, Value: f.Value(name), Error: f.Error(name)}
	if typ == "password" {
		v.Value = ""
	}
	if len(hint) > 0 {
		v.Hint = hint[0]
	}
	return v
}

// Action is a button: a link (GET) or a one-button form (POST).
type Action struct {
	Label   string
	URL     string
	Post    bool
	Primary bool
	// Fields are hidden inputs of a POST action.
	Fields map[string]string
}

// Message is the data of the generic "message" page.
type Message struct {
	Paragraphs []string
	Actions    []Action
}

// Renderer renders pages.
type Renderer struct {
	pages  map[string]*template.Template
	assets *httpserver.Assets
	logger *slog.Logger
}

// NewRenderer parses every page. assets must hold Static()'s files.
func NewRenderer(assets *httpserver.Assets, logger *slog.Logger) (*Renderer, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	funcs := template.FuncMap{"field": field}
	base, err := template.New("layout").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("web: layout: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/pages/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: pages: %w", err)
	}
	r := &Renderer{pages: map[string]*template.Template{}, assets: assets, logger: logger}
	for _, n := range names {
		t, err := template.Must(base.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, fmt.Errorf("web: %s: %w", n, err)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/pages/"), ".html")
		r.pages[name] = t
	}
	return r, nil
}

// Has reports whether a page exists.
func (r *Renderer) Has(name string) bool { return r.pages[name] != nil }

// Render writes page p with status. A page that fails to render (a bug)
// becomes the 500 page.
func (r *Renderer) Render(w http.ResponseWriter, req *http.Request, status int, p Page) {
	t := r.pages[p.Name]
	if t == nil {
		httpserver.Error(w, req, http.StatusInternalServerError, "", fmt.Errorf("web: no page %q", p.Name))
		return
	}
	p.css = r.assets.URL("shiming.css")
	p.js = r.assets.URL("qr.js")
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		httpserver.Error(w, req, http.StatusInternalServerError, "", fmt.Errorf("web: render %s: %w", p.Name, err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// JSON writes v as an uncached JSON response.
func JSON(w http.ResponseWriter, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

// QRPNG writes content as a QR code image.
func QRPNG(w http.ResponseWriter, r *http.Request, content string) {
	if content == "" {
		httpserver.Error(w, r, http.StatusNotFound, "", nil)
		return
	}
	png, err := qrcode.Encode(content, qrcode.Medium, 256)
	if err != nil {
		httpserver.Error(w, r, http.StatusInternalServerError, "", fmt.Errorf("web: qr image: %w", err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "image/png")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(png)
}

// QRStatus is the JSON answer of a QR page's status poll.
type QRStatus struct {
	// Phase is the scan phase (waiting, scanned, exchanging, done,
	// failed) or the face phase (pending, passed, failed, unavailable).
	Phase string `json:"state"`
	// Message is the calm sentence the page shows under the code.
	Message string `json:"message"`
	// ErrorKind is the kind the message explains, or "".
	ErrorKind string `json:"error_kind"`
	// QRVersion changes when a fresh QR code replaced the one shown.
	QRVersion int `json:"qr_version"`
	// Next is where the page goes on, once there is somewhere to go.
	Next string `json:"next,omitempty"`
}

// QR is the data of the shared QR page (scan login and face).
type QR struct {
	Heading string
	Caption string
	// Content is what the code encodes (the data-qr attribute).
	Content   string
	ImageURL  string
	StatusURL string
	// FormURL receives the "我已扫码"/"我已完成" button and the retry.
	FormURL    string
	Phase      string
	Version    int
	CheckLabel string
	Status     string
	ErrorKind  string
	// Retry shows the retry button instead of the code.
	Retry      bool
	RetryLabel string
	// DemoURL opens the QR in the sandbox's virtual phone.
	DemoURL string
	Back    *Action
}
