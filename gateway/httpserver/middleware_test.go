package httpserver

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var requestIDPattern = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{24}$`)

func TestChainOrder(t *testing.T) {
	var order []string
	mw := func(name string) Middleware {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				order = append(order, name)
				next.ServeHTTP(w, r)
			})
		}
	}
	h := Chain(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { order = append(order, "handler") }),
		mw("outer"), mw("middle"), mw("inner"))
	serve(t, h, httptest.NewRequest("GET", "/", nil))
	if got := strings.Join(order, ","); got != "outer,middle,inner,handler" {
		t.Fatalf("order = %s", got)
	}
}

func TestRequestID(t *testing.T) {
	logger, logs := testLogger()
	var seen []string
	h := RequestID(logger)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, RequestIDFrom(r.Context()))
		LoggerFrom(r.Context(), nil).Info("inside")
	}))

	var headers []string
	for range 2 {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("X-Request-Id", "forged\nline")
		resp, _ := serve(t, h, req)
		headers = append(headers, resp.Header.Get("X-Request-Id"))
	}
	for i, id := range headers {
		if !requestIDPattern.MatchString(id) {
			t.Errorf("request id %q is not 24 Crockford base32 characters", id)
		}
		if seen[i] != id {
			t.Errorf("context id %q differs from header %q", seen[i], id)
		}
	}
	if headers[0] == headers[1] {
		t.Error("two requests got the same id")
	}
	recs := logs.find(t, "inside")
	if len(recs) != 2 || recs[0]["request_id"] != headers[0] {
		t.Errorf("request logger records = %v", recs)
	}
}

func TestRecover(t *testing.T) {
	const secret = "panic text 43010419900101123X"
	logger, logs := testLogger()
	h := Chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		panic(errors.New(secret))
	}), RequestID(logger), Recover(logger))

	resp, body := serve(t, h, httptest.NewRequest("GET", "/", nil))
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if strings.Contains(body, secret) || strings.Contains(body, "panic") {
		t.Error("the page shows the panic")
	}
	if !strings.Contains(body, "系统暂时出现问题") {
		t.Error("the page lacks the Chinese 500 title")
	}
	id := errorIDIn(t, body)
	if len(id) != ErrorIDLen || !strings.HasPrefix(resp.Header.Get("X-Request-Id"), id) {
		t.Errorf("error id %q is not the start of request id %q", id, resp.Header.Get("X-Request-Id"))
	}
	recs := logs.find(t, "panic serving request")
	if len(recs) != 1 {
		t.Fatalf("panic logged %d times", len(recs))
	}
	rec := recs[0]
	if rec["error_id"] != id || rec["level"] != "ERROR" {
		t.Errorf("log record %v lacks error_id %q at ERROR", rec, id)
	}
	if !strings.Contains(rec["panic"].(string), secret) || !strings.Contains(rec["stack"].(string), "middleware_test.go") {
		t.Error("the log lacks the panic value or its stack")
	}
}

func TestRecoverAfterHeaderAborts(t *testing.T) {
	logger, logs := testLogger()
	h := Recover(logger)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("partial"))
		panic("late")
	}))
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Fatalf("recovered %v, want http.ErrAbortHandler", v)
		}
		if len(logs.find(t, "panic serving request")) != 1 {
			t.Error("the late panic was not logged")
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	t.Fatal("no panic reached the server")
}

func TestAccessLogNeverLogsQueryOrForm(t *testing.T) {
	logger, logs := testLogger()
	rt := NewRouter()
	rt.HandleFunc("POST /{portal}/login", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.WriteHeader(http.StatusSeeOther)
		w.Write([]byte("moved"))
	})
	h := Chain(rt, RequestID(logger), AccessLog(logger))

	form := url.Values{"id_number": {"43010419900101123X"}, "password": {"hunter2-secret"}}
	req := httptest.NewRequest("POST", "/hunanpea/login?code=SMSCODE-998877&state=st-secret", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, _ := serve(t, h, req)
	serve(t, h, httptest.NewRequest("GET", "/no/such/page?code=SMSCODE-998877", nil))

	recs := logs.find(t, "http request")
	if len(recs) != 2 {
		t.Fatalf("%d access log lines, want 2", len(recs))
	}
	got := recs[0]
	for k, want := range map[string]any{
		"method":     "POST",
		"route":      "POST /{portal}/login",
		"status":     float64(http.StatusSeeOther),
		"bytes":      float64(len("moved")),
		"request_id": resp.Header.Get("X-Request-Id"),
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	if _, ok := got["duration"]; !ok {
		t.Error("no duration")
	}
	if recs[1]["route"] != "unmatched" || recs[1]["status"] != float64(http.StatusNotFound) {
		t.Errorf("unmatched request logged as %v", recs[1])
	}
	all := logs.String()
	for _, leak := range []string{"SMSCODE", "st-secret", "43010419900101123X", "hunter2", "hunanpea", "no/such"} {
		if strings.Contains(all, leak) {
			t.Errorf("the access log contains %q", leak)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	for _, tc := range []struct {
		name      string
		hsts      bool
		handler   http.HandlerFunc
		wantCache string
	}{
		{"html over http", false, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte("<p>x</p>"))
		}, "no-store"},
		{"html over https", true, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusOK)
		}, "no-store"},
		{"untyped body", false, func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("<!DOCTYPE html>"))
		}, "no-store"},
		{"handler's own caching", true, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "private, max-age=60")
			w.Write([]byte("<p>x</p>"))
		}, "private, max-age=60"},
		{"stylesheet", false, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/css; charset=utf-8")
			w.Write([]byte("p{}"))
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := SecurityHeaders(SecurityOptions{HSTS: tc.hsts})(tc.handler)
			resp, _ := serve(t, h, httptest.NewRequest("GET", "/", nil))
			want := map[string]string{
				"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
				"X-Content-Type-Options":  "nosniff",
				"Referrer-Policy":         "no-referrer",
				"Cache-Control":           tc.wantCache,
			}
			if tc.hsts {
				want["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
			} else {
				want["Strict-Transport-Security"] = ""
			}
			for k, v := range want {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			csp := resp.Header.Get("Content-Security-Policy")
			if strings.Contains(csp, "form-action") || strings.Contains(csp, "unsafe-inline") {
				t.Errorf("CSP %q has form-action or unsafe-inline", csp)
			}
		})
	}
}
