package httpserver

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func TestAssets(t *testing.T) {
	extra := fstest.MapFS{"js/poll.js": {Data: []byte("export {};\n")}}
	a, err := NewAssets(extra)
	if err != nil {
		t.Fatal(err)
	}
	rt := NewRouter()
	a.Register(rt)
	rt.HandleFunc("GET /{portal}/login", func(http.ResponseWriter, *http.Request) {})

	cssURL := a.URL("shiming.css")
	if !strings.HasPrefix(cssURL, "/static/shiming.css?v=") {
		t.Fatalf("URL = %q", cssURL)
	}

	for _, tc := range []struct {
		name        string
		url         string
		header      map[string]string
		status      int
		contentType string
		cache       string
	}{
		{"versioned stylesheet", cssURL, nil, http.StatusOK, "text/css; charset=utf-8", "public, max-age=31536000, immutable"},
		{"plain stylesheet", "/static/shiming.css", nil, http.StatusOK, "text/css; charset=utf-8", "public, max-age=3600"},
		{"stale version", "/static/shiming.css?v=000000000000", nil, http.StatusOK, "text/css; charset=utf-8", "public, max-age=3600"},
		{"other package's file", a.URL("js/poll.js"), nil, http.StatusOK, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable"},
		{"revalidation", "/static/shiming.css", map[string]string{"If-None-Match": `"` + strings.TrimPrefix(cssURL, "/static/shiming.css?v=") + `"`}, http.StatusNotModified, "", "public, max-age=3600"},
		{"unknown file", "/static/nope.css", nil, http.StatusNotFound, "text/html; charset=utf-8", "no-store"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", tc.url, nil)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, body := serve(t, rt, req)
			if resp.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.contentType != "" && resp.Header.Get("Content-Type") != tc.contentType {
				t.Errorf("Content-Type = %q, want %q", resp.Header.Get("Content-Type"), tc.contentType)
			}
			if resp.Header.Get("Cache-Control") != tc.cache {
				t.Errorf("Cache-Control = %q, want %q", resp.Header.Get("Cache-Control"), tc.cache)
			}
			if tc.status == http.StatusOK && len(body) == 0 {
				t.Error("empty body")
			}
		})
	}
}

func TestStylesheetComponents(t *testing.T) {
	b, err := staticFS.ReadFile("static/shiming.css")
	if err != nil {
		t.Fatal(err)
	}
	css := string(b)
	for _, sel := range []string{".site-header", ".steps", ".btn", ".btn-primary", ".notice", ".notice-error", ".qr", ".field", ":focus-visible", "Microsoft YaHei", "Noto Sans CJK SC"} {
		if !strings.Contains(css, sel) {
			t.Errorf("stylesheet lacks %s", sel)
		}
	}
	if strings.Contains(css, "@import") || strings.Contains(css, "url(http") {
		t.Error("stylesheet loads something from outside")
	}
	if strings.Count(css, "{") != strings.Count(css, "}") {
		t.Error("unbalanced braces")
	}
}

func TestAssetsDuplicate(t *testing.T) {
	if _, err := NewAssets(fstest.MapFS{"shiming.css": {Data: []byte("p{}")}}); err == nil {
		t.Fatal("a second shiming.css was accepted")
	}
}
