package httpserver

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCrossOrigin(t *testing.T) {
	for _, tc := range []struct {
		name    string
		method  string
		path    string
		headers map[string]string
		want    int
	}{
		{"same-origin post", "POST", "/form", map[string]string{"Sec-Fetch-Site": "same-origin"}, http.StatusOK},
		{"typed-in navigation", "POST", "/form", map[string]string{"Sec-Fetch-Site": "none"}, http.StatusOK},
		{"cross-site post", "POST", "/form", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"same-site post from a sibling host", "POST", "/form", map[string]string{"Sec-Fetch-Site": "same-site"}, http.StatusForbidden},
		{"cross-site get", "GET", "/form", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusOK},
		{"old browser, foreign origin", "POST", "/form", map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"old browser, own origin", "POST", "/form", map[string]string{"Origin": "http://example.com"}, http.StatusOK},
		{"no browser headers", "DELETE", "/form", nil, http.StatusOK},
		{"trusted origin", "POST", "/form", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://portal.example.gov.cn"}, http.StatusOK},
		{"bypass pattern", "POST", "/oidc/callback", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://idp.example"}, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rejections := prometheus.NewCounter(prometheus.CounterOpts{Name: "test_rejections_total", Help: "test"})
			mw, err := CrossOrigin(CrossOriginOptions{
				TrustedOrigins:         []string{"https://portal.example.gov.cn"},
				InsecureBypassPatterns: []string{"POST /oidc/callback"},
				Rejections:             rejections,
			})
			if err != nil {
				t.Fatal(err)
			}
			reached := false
			h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached = true }))
			req := httptest.NewRequest(tc.method, tc.path, nil)
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			resp, body := serve(t, h, req)
			if resp.StatusCode != tc.want {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tc.want)
			}
			refused := tc.want == http.StatusForbidden
			if reached == refused {
				t.Errorf("handler reached = %v for a request refused = %v", reached, refused)
			}
			wantCount := 0.0
			if refused {
				wantCount = 1
				if !strings.Contains(body, "此操作必须在本站的页面上提交") || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
					t.Errorf("the refusal page is not the Chinese 403 page:\n%s", body)
				}
				errorIDIn(t, body)
			}
			if got := testutil.ToFloat64(rejections); got != wantCount {
				t.Errorf("rejections = %v, want %v", got, wantCount)
			}
		})
	}
}

func TestCrossOriginBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts CrossOriginOptions
	}{
		{"origin with path", CrossOriginOptions{TrustedOrigins: []string{"https://a.example/x"}}},
		{"origin without scheme", CrossOriginOptions{TrustedOrigins: []string{"a.example"}}},
		{"bad bypass pattern", CrossOriginOptions{InsecureBypassPatterns: []string{"POST /{x"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := CrossOrigin(tc.opts); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

// TestEveryStateChangingRouteRefusesCrossOrigin is the pattern for the
// gateway's own test over its full route table: walk Routes and send
// each state-changing route a cross-site request.
func TestEveryStateChangingRouteRefusesCrossOrigin(t *testing.T) {
	logger, _ := testLogger()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	co, err := CrossOrigin(CrossOriginOptions{Rejections: m.CrossOriginRejections(), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	rt := NewRouter()
	reached := map[string]bool{}
	for _, p := range []string{
		"GET /{portal}/login",
		"POST /{portal}/login",
		"POST /realname/{flow}/scan",
		"PUT /account/phone",
		"DELETE /session",
		"PATCH /application/{id}",
		"/logout",
		"GET /files/{name}/{rest...}",
		"GET /{$}",
	} {
		rt.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) { reached[p] = true })
	}
	h := Chain(rt, RequestID(logger), m.Middleware, AccessLog(logger), Recover(logger), SecurityHeaders(SecurityOptions{}), co)

	var unsafe int
	for _, route := range rt.Routes() {
		if !route.StateChanging() {
			continue
		}
		unsafe++
		for _, site := range []string{"cross-site", "same-origin"} {
			req := httptest.NewRequest(route.SampleMethod(), route.SamplePath(), nil)
			req.Header.Set("Sec-Fetch-Site", site)
			clear(reached)
			resp, _ := serve(t, h, req)
			switch site {
			case "cross-site":
				if resp.StatusCode != http.StatusForbidden || reached[route.Pattern] {
					t.Errorf("%s %s cross-site: status %d, handler reached %v", route.SampleMethod(), route.SamplePath(), resp.StatusCode, reached[route.Pattern])
				}
			case "same-origin":
				if !reached[route.Pattern] {
					t.Errorf("%s %s same-origin did not reach %q", route.SampleMethod(), route.SamplePath(), route.Pattern)
				}
			}
		}
	}
	if unsafe != 6 {
		t.Errorf("%d state-changing routes found, want 6", unsafe)
	}
	if got := testutil.ToFloat64(m.CrossOriginRejections()); got != float64(unsafe) {
		t.Errorf("rejections counted = %v, want %d", got, unsafe)
	}
}
