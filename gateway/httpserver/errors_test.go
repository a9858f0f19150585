package httpserver

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func slogDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestErrorPages(t *testing.T) {
	for _, tc := range []struct {
		status  int
		title   string
		err     error
		wantLog string // level, or "" for no log line
	}{
		{http.StatusBadRequest, "请求无法处理", nil, ""},
		{http.StatusForbidden, "无法完成此操作", errors.New("not your flow"), "WARN"},
		{http.StatusNotFound, "页面不存在", nil, ""},
		{http.StatusMethodNotAllowed, "操作方式不正确", nil, ""},
		{http.StatusTooManyRequests, "操作过于频繁", nil, ""},
		{http.StatusConflict, "请求无法处理", nil, ""},
		{http.StatusInternalServerError, "系统暂时出现问题", errors.New("db: constraint users_pkey"), "ERROR"},
		{http.StatusBadGateway, "系统暂时出现问题", nil, "ERROR"},
		{http.StatusServiceUnavailable, "系统繁忙", errors.New("plugin wechat: unavailable"), "ERROR"},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			logger, logs := testLogger()
			h := RequestID(logger)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "12")
				Error(w, r, tc.status, "", tc.err)
			}))
			resp, body := serve(t, h, httptest.NewRequest("GET", "/", nil))
			if resp.StatusCode != tc.status {
				t.Fatalf("status = %d", resp.StatusCode)
			}
			for k, v := range map[string]string{
				"Content-Type":   "text/html; charset=utf-8",
				"Cache-Control":  "no-store",
				"Content-Length": "",
			} {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if !strings.Contains(body, `<html lang="zh-CN">`) || !strings.Contains(body, "<h1 id=\"error-title\">"+tc.title+"</h1>") {
				t.Errorf("page lacks zh-CN or the title %q:\n%s", tc.title, body)
			}
			if !strings.Contains(body, `href="/static/shiming.css?v=`) {
				t.Error("page does not link the versioned stylesheet")
			}
			id := errorIDIn(t, body)
			if !strings.HasPrefix(resp.Header.Get("X-Request-Id"), id) {
				t.Errorf("error id %q is not the start of the request id", id)
			}
			if tc.err != nil && strings.Contains(body, tc.err.Error()) {
				t.Error("the page shows the error")
			}
			recs := logs.find(t, "request failed")
			if tc.wantLog == "" {
				if len(recs) != 0 {
					t.Errorf("logged %v", recs)
				}
				return
			}
			if len(recs) != 1 || recs[0]["level"] != tc.wantLog || recs[0]["error_id"] != id {
				t.Fatalf("log records = %v, want one at %s with error_id %s", recs, tc.wantLog, id)
			}
			if tc.err != nil && recs[0]["error"] != tc.err.Error() {
				t.Errorf("logged error = %v", recs[0]["error"])
			}
		})
	}
}

func TestErrorPublicMessage(t *testing.T) {
	const msg = "二维码已过期，请刷新页面获取新的二维码。"
	_, body := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Error(w, r, http.StatusBadRequest, msg, nil)
	}), httptest.NewRequest("GET", "/", nil))
	if !strings.Contains(body, msg) {
		t.Error("the public message is missing")
	}
	if len(errorIDIn(t, body)) != ErrorIDLen {
		t.Error("no error id without the RequestID middleware")
	}
}

func TestErrorMessageIsEscaped(t *testing.T) {
	_, body := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Error(w, r, http.StatusBadRequest, `<script>alert(1)</script>`, nil)
	}), httptest.NewRequest("GET", "/", nil))
	if strings.Contains(body, "<script>") {
		t.Error("the message was not escaped")
	}
}

func TestTemplatesHaveNoInlineScriptOrStyle(t *testing.T) {
	b, err := templateFS.ReadFile("templates/error.html")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ToLower(string(b))
	for _, bad := range []string{"<script", "<style", "style=", "onclick=", "onload=", "http://", "https://"} {
		if strings.Contains(s, bad) {
			t.Errorf("error.html contains %q", bad)
		}
	}
}
