package httpserver

import (
	"bytes"
	"embed"
	"html/template"
	"log/slog"
	"net/http"
)

//go:embed templates/error.html
var templateFS embed.FS

// errorTemplate is parsed once from the embedded file; it is never
// changed after.
var errorTemplate = template.Must(template.ParseFS(templateFS, "templates/error.html"))

// pageText is the calm, fixed wording of an error page.
type pageText struct {
	title, message string
}

// errorTexts holds the wording for each status we render. Statuses not
// listed use the text of their class (400 or 500).
var errorTexts = map[int]pageText{
	http.StatusBadRequest: {
		"请求无法处理",
		"提交的内容不完整或格式不正确。请返回上一页，检查后重新提交。",
	},
	http.StatusForbidden: {
		"无法完成此操作",
		"出于安全原因，本次请求未被接受。请从报名入口重新进入后再试。",
	},
	http.StatusNotFound: {
		"页面不存在",
		"您访问的页面不存在或已经失效。请从报名入口重新进入。",
	},
	http.StatusMethodNotAllowed: {
		"操作方式不正确",
		"此页面不支持这种操作。请返回上一页，使用页面上的按钮继续。",
	},
	http.StatusTooManyRequests: {
		"操作过于频繁",
		"您的操作过于频繁，请稍等几分钟后再试。",
	},
	http.StatusInternalServerError: {
		"系统暂时出现问题",
		"很抱歉，系统暂时无法完成您的请求，问题已经记录。请稍后刷新页面再试。",
	},
	http.StatusServiceUnavailable: {
		"系统繁忙",
		"当前访问人数较多，系统暂时无法处理您的请求。请稍后再试；报名期间可避开首日和末日的高峰时段。",
	},
}

// CrossOriginMessage is the 403 text for a request refused as
// cross-origin.
const CrossOriginMessage = "此操作必须在本站的页面上提交。请关闭从其他网站打开的页面，从报名入口重新进入后再试。"

func textFor(status int) pageText {
	if t, ok := errorTexts[status]; ok {
		return t
	}
	if status >= 500 {
		return errorTexts[http.StatusInternalServerError]
	}
	return errorTexts[http.StatusBadRequest]
}

// Error writes the error page for status with an error id the candidate
// can quote, and logs err (the details, never shown) with the same id.
// publicMessage replaces the standard wording for the status when not
// empty; it must be fixed text, never err.Error(). Server errors are
// logged at error level, client errors with a non-nil err at warn level,
// and client errors without one not at all (the access log has them).
// err must not carry codes, tokens or full ID numbers. The log goes to
// the request's logger from RequestID, or to slog.Default() for a request
// that did not pass that middleware.
func Error(w http.ResponseWriter, r *http.Request, status int, publicMessage string, err error) {
	errorID := ErrorID(r)
	if status >= 500 || err != nil {
		level := slog.LevelWarn
		if status >= 500 {
			level = slog.LevelError
		}
		attrs := []slog.Attr{
			slog.String("error_id", errorID),
			slog.String("method", r.Method),
			slog.String("route", routeLabel(r)),
			slog.Int("status", status),
		}
		if err != nil {
			attrs = append(attrs, slog.Any("error", err))
		}
		LoggerFrom(r.Context(), slog.Default()).LogAttrs(r.Context(), level, "request failed", attrs...)
	}
	renderError(w, r, status, publicMessage, errorID)
}

// errorPage is the data of templates/error.html.
type errorPage struct {
	Status     int
	Title      string
	Message    string
	ErrorID    string
	Tone       string // notice style: warn for client errors, error for server errors
	Stylesheet string
}

// renderError writes the page without logging.
func renderError(w http.ResponseWriter, r *http.Request, status int, publicMessage, errorID string) {
	t := textFor(status)
	page := errorPage{
		Status:     status,
		Title:      t.title,
		Message:    t.message,
		ErrorID:    errorID,
		Tone:       "warn",
		Stylesheet: baseAssets.URL("shiming.css"),
	}
	if publicMessage != "" {
		page.Message = publicMessage
	}
	if status >= 500 {
		page.Tone = "error"
	}
	var buf bytes.Buffer
	h := w.Header()
	for _, k := range []string{"Content-Length", "Content-Encoding", "ETag", "Last-Modified"} {
		h.Del(k)
	}
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if err := errorTemplate.Execute(&buf, page); err != nil {
		// The template is embedded and tested; keep a readable fallback.
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(page.Title + "\n错误编号：" + errorID + "\n"))
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}
