package alipay

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// contentSecurityPolicy allows the pages nothing but their own styles,
// scripts, images and polling, from the sandbox's origin.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'"

func parsePages() (*template.Template, error) {
	t, err := template.New("").ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("alipay: templates: %w", err)
	}
	return t, nil
}

func staticHandler() http.Handler {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		// The embedded tree always has the static folder.
		panic("alipay: static files: " + err.Error())
	}
	files := http.StripPrefix("/sandbox/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}

// pageHeaders sets the security headers of every HTML page.
func pageHeaders(h http.Header) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

// render executes a page into a buffer first, so that a template error
// becomes a clean 500.
func (s *Sim) render(w http.ResponseWriter, status int, name string, data any) {
	var b bytes.Buffer
	if err := s.pages.ExecuteTemplate(&b, name, data); err != nil {
		s.log.Error("alipay: render page", "page", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	pageHeaders(w.Header())
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// renderError shows the gateway's debugging page for a page request
// ("调试错误，请回到请求来源地，重新发起请求。错误代码 … 错误原因: …"), with the
// sub_code's "isv." prefix dropped as the real page does.
func (s *Sim) renderError(w http.ResponseWriter, status int, code, reason string) {
	s.render(w, status, "error.html", map[string]any{
		"Code":   strings.TrimPrefix(code, "isv."),
		"Reason": reason,
		"Static": s.env.URL(HostOpenAPI, "/sandbox/static/"),
	})
}

// avatarPNG draws the one avatar every sandbox user has: Alipay blue.
func avatarPNG() ([]byte, error) {
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	blue := color.RGBA{R: 0x16, G: 0x77, B: 0xff, A: 0xff}
	for y := 0; y < 64; y++ {
		for x := 0; x < 64; x++ {
			img.Set(x, y, blue)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, fmt.Errorf("alipay: avatar: %w", err)
	}
	return b.Bytes(), nil
}
