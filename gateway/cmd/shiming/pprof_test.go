package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestWithPProf(t *testing.T) {
	ops := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ops " + r.URL.Path)) })
	h := withPProf(ops)
	tests := []struct {
		name, path string
		status     int
		contains   string
	}{
		{"index", "/debug/pprof/", http.StatusOK, "goroutine"},
		{"named profile", "/debug/pprof/goroutine?debug=1", http.StatusOK, "goroutine profile"},
		{"ops endpoints still served", "/metrics", http.StatusOK, "ops /metrics"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, tt.path, nil))
			if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.contains) {
				t.Fatalf("GET %s: %d %.200q, want %d containing %q", tt.path, w.Code, w.Body.String(), tt.status, tt.contains)
			}
		})
	}
}
