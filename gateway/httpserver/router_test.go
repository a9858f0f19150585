package httpserver

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestParseRoute(t *testing.T) {
	for _, tc := range []struct {
		pattern    string
		want       Route
		changing   bool
		sampleMeth string
		samplePath string
	}{
		{"GET /{portal}/login", Route{"GET /{portal}/login", "GET", "", "/{portal}/login"}, false, "GET", "/x/login"},
		{"POST /realname/{flow}/scan", Route{"POST /realname/{flow}/scan", "POST", "", "/realname/{flow}/scan"}, true, "POST", "/realname/x/scan"},
		{"/logout", Route{"/logout", "", "", "/logout"}, true, "POST", "/logout"},
		{"GET /{$}", Route{"GET /{$}", "GET", "", "/{$}"}, false, "GET", "/"},
		{"DELETE  example.com/s/{id...}", Route{"DELETE  example.com/s/{id...}", "DELETE", "example.com", "/s/{id...}"}, true, "DELETE", "/s/x"},
		{"HEAD /h", Route{"HEAD /h", "HEAD", "", "/h"}, false, "HEAD", "/h"},
		{"OPTIONS /o", Route{"OPTIONS /o", "OPTIONS", "", "/o"}, false, "OPTIONS", "/o"},
	} {
		t.Run(tc.pattern, func(t *testing.T) {
			got := parseRoute(tc.pattern)
			if got != tc.want {
				t.Errorf("parseRoute = %+v, want %+v", got, tc.want)
			}
			if got.StateChanging() != tc.changing {
				t.Errorf("StateChanging = %v", got.StateChanging())
			}
			if got.SampleMethod() != tc.sampleMeth || got.SamplePath() != tc.samplePath {
				t.Errorf("sample = %s %s, want %s %s", got.SampleMethod(), got.SamplePath(), tc.sampleMeth, tc.samplePath)
			}
		})
	}
}

func TestRouterRoutesAndPattern(t *testing.T) {
	rt := NewRouter()
	var pattern, value string
	rt.HandleFunc("POST /{portal}/login", func(w http.ResponseWriter, r *http.Request) {
		pattern, value = Pattern(r), r.PathValue("portal")
	})
	rt.HandleFunc("GET /a", func(http.ResponseWriter, *http.Request) {})

	var patterns []string
	for _, r := range rt.Routes() {
		patterns = append(patterns, r.Pattern)
	}
	if got := strings.Join(patterns, ","); got != "GET /a,POST /{portal}/login" {
		t.Errorf("Routes = %s", got)
	}

	// Pattern works through middleware that copies the request.
	h := Chain(rt, RequestID(slogDiscard()), func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(r.Context()))
		})
	})
	serve(t, h, httptest.NewRequest("POST", "/hxw/login", nil))
	if pattern != "POST /{portal}/login" || value != "hxw" {
		t.Errorf("Pattern = %q, PathValue = %q", pattern, value)
	}
}

func TestRouterUnmatched(t *testing.T) {
	rt := NewRouter()
	rt.HandleFunc("GET /only-get", func(w http.ResponseWriter, r *http.Request) {
		// A handler's own 404 is left alone.
		http.Error(w, "handler says no", http.StatusNotFound)
	})
	for _, tc := range []struct {
		name, method, path string
		status             int
		title, allow       string
	}{
		{"unknown path", "GET", "/nowhere", http.StatusNotFound, "页面不存在", ""},
		{"wrong method", "POST", "/only-get", http.StatusMethodNotAllowed, "操作方式不正确", "GET, HEAD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := serve(t, rt, httptest.NewRequest(tc.method, tc.path, nil))
			if resp.StatusCode != tc.status {
				t.Fatalf("status = %d", resp.StatusCode)
			}
			if resp.Header.Get("Content-Type") != "text/html; charset=utf-8" || !strings.Contains(body, tc.title) {
				t.Errorf("not the Chinese page: %q\n%s", resp.Header.Get("Content-Type"), body)
			}
			if strings.Contains(body, "page not found") || strings.Contains(body, "method not allowed") {
				t.Error("the mux's English text leaked into the page")
			}
			if resp.Header.Get("Allow") != tc.allow {
				t.Errorf("Allow = %q, want %q", resp.Header.Get("Allow"), tc.allow)
			}
			errorIDIn(t, body)
		})
	}
	resp, body := serve(t, rt, httptest.NewRequest("GET", "/only-get", nil))
	if resp.StatusCode != http.StatusNotFound || body != "handler says no\n" {
		t.Errorf("a handler's own 404 was replaced: %d %q", resp.StatusCode, body)
	}
}
