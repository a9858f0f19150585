package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/alipay"
	"github.com/shiming-id/shiming/contrib/sandbox/ctid"
	"github.com/shiming-id/shiming/contrib/sandbox/fault"
	"github.com/shiming-id/shiming/contrib/sandbox/govidp"
	"github.com/shiming-id/shiming/contrib/sandbox/sms"
	"github.com/shiming-id/shiming/contrib/sandbox/wechat"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

// ---- access log ----

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// accessLog logs every request: method, masked path, status, duration.
// The query is never logged: it carries codes, secrets and phones.
func accessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		log.Info("sandbox request", "method", r.Method, "path", maskPath(r.URL.Path),
			"status", sw.status, "duration_ms", time.Since(start).Milliseconds())
	})
}

var (
	phoneSegment = regexp.MustCompile(`^1[3-9]\d{9}$`)
	idSegment    = regexp.MustCompile(`^\d{17}[\dXx]$`)
)

// maskPath hides phones, ID numbers and long tokens in a path; the
// first segment, the simulated host, stays.
func maskPath(p string) string {
	parts := strings.Split(p, "/")
	for i, seg := range parts {
		switch {
		case i == 1:
		case phoneSegment.MatchString(seg):
			parts[i] = cnid.MaskPhone(seg)
		case idSegment.MatchString(seg):
			parts[i] = cnid.MaskID(strings.ToUpper(seg))
		case len(seg) > 16:
			parts[i] = seg[:4] + "…"
		}
	}
	return strings.Join(parts, "/")
}

// ---- fault API ----

// knownVendors may carry fault rules.
func knownVendors() []string { return []string{"wechat", "alipay", "ctid", "sms", "govidp"} }

// faultJSON is a fault.Rule on the wire. On input, code may be a string
// or a number, and latency a Go duration string ("250ms", "2s") or a
// number of milliseconds.
type faultJSON struct {
	Vendor    string          `json:"vendor"`
	Path      string          `json:"path,omitempty"`
	Code      json.RawMessage `json:"code,omitempty"`
	Latency   json.RawMessage `json:"latency,omitempty"`
	LatencyMS int64           `json:"latency_ms,omitempty"`
	Count     int             `json:"count,omitempty"`
}

type faultOut struct {
	Vendor    string `json:"vendor"`
	Path      string `json:"path,omitempty"`
	Code      string `json:"code,omitempty"`
	Latency   string `json:"latency,omitempty"`
	LatencyMS int64  `json:"latency_ms,omitempty"`
	Count     int    `json:"count"`
}

func toOut(r fault.Rule) faultOut {
	out := faultOut{Vendor: r.Vendor, Path: r.Path, Code: r.Code, Count: r.Count}
	if r.Latency > 0 {
		out.Latency, out.LatencyMS = r.Latency.String(), r.Latency.Milliseconds()
	}
	return out
}

const maxLatency = 5 * time.Minute

// decodeFault parses and checks the body of POST /sandbox/faults.
func decodeFault(body io.Reader) (fault.Rule, error) {
	var in faultJSON
	dec := json.NewDecoder(io.LimitReader(body, 16<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return fault.Rule{}, errors.New("body must be a JSON object: vendor, path, code, latency, count")
	}
	if dec.More() {
		return fault.Rule{}, errors.New("body must hold one JSON object")
	}
	rule := fault.Rule{Vendor: in.Vendor, Path: in.Path, Count: in.Count}
	known := false
	for _, v := range knownVendors() {
		known = known || v == in.Vendor
	}
	if !known {
		return rule, fmt.Errorf("vendor must be one of %s", strings.Join(knownVendors(), ", "))
	}
	if in.Path != "" && !strings.HasPrefix(in.Path, "/") {
		return rule, errors.New("path must start with /")
	}
	if in.Count < 0 {
		return rule, errors.New("count must not be negative")
	}
	code, err := scalar(in.Code)
	if err != nil {
		return rule, errors.New("code must be a string or a number")
	}
	rule.Code = code
	lat, err := latency(in.Latency)
	if err != nil {
		return rule, err
	}
	if in.LatencyMS != 0 {
		if lat != 0 {
			return rule, errors.New("give latency or latency_ms, not both")
		}
		lat = time.Duration(in.LatencyMS) * time.Millisecond
	}
	if lat < 0 || lat > maxLatency {
		return rule, fmt.Errorf("latency must be between 0 and %s", maxLatency)
	}
	rule.Latency = lat
	if rule.Code == "" && rule.Latency == 0 {
		return rule, errors.New("a fault needs a code or a latency")
	}
	return rule, nil
}

// scalar reads a JSON string or number as text.
func scalar(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", err
	}
	return n.String(), nil
}

// latency reads "250ms" (a Go duration) or 250 (milliseconds).
func latency(raw json.RawMessage) (time.Duration, error) {
	text, err := scalar(raw)
	if err != nil || text == "" {
		if err != nil {
			return 0, errors.New("latency must be a duration string or milliseconds")
		}
		return 0, nil
	}
	if ms, err := strconv.ParseFloat(text, 64); err == nil && bytes.IndexByte(raw, '"') < 0 {
		if ms < 0 || ms > float64(maxLatency/time.Millisecond) {
			return 0, fmt.Errorf("latency must be between 0 and %s", maxLatency)
		}
		return time.Duration(ms * float64(time.Millisecond)), nil
	}
	d, err := time.ParseDuration(text)
	if err != nil {
		return 0, errors.New(`latency must be a duration string ("250ms") or milliseconds (250)`)
	}
	return d, nil
}

func (s *Sandbox) listFaults(w http.ResponseWriter, r *http.Request) {
	out := []faultOut{}
	for _, rule := range s.faults.List() {
		out = append(out, toOut(rule))
	}
	writeJSON(w, http.StatusOK, map[string]any{"faults": out})
}

func (s *Sandbox) addFault(w http.ResponseWriter, r *http.Request) {
	rule, err := decodeFault(r.Body)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad_request", "message": err.Error()})
		return
	}
	s.faults.Add(rule)
	s.log.Info("sandbox fault added", "fault_vendor", rule.Vendor, "fault_path", rule.Path, "fault_code", rule.Code,
		"latency_ms", rule.Latency.Milliseconds(), "count", rule.Count)
	writeJSON(w, http.StatusCreated, map[string]any{"fault": toOut(rule)})
}

func (s *Sandbox) clearFaults(w http.ResponseWriter, r *http.Request) {
	vendor := r.URL.Query().Get("vendor")
	s.faults.Clear(vendor)
	if vendor == "" {
		vendor = "all"
	}
	s.log.Info("sandbox faults cleared", "fault_vendor", vendor)
	writeJSON(w, http.StatusOK, map[string]any{"cleared": vendor, "remaining": len(s.faults.List())})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// ---- index page ----

type endpoint struct {
	Method, Path, What string
}

// endpointsOf describes the endpoints of each simulated host.
func endpointsOf(host string) []endpoint {
	switch host {
	case wechat.OpenHost:
		return []endpoint{
			{"GET", "/connect/qrconnect?appid&redirect_uri&response_type=code&scope=snsapi_login&state", "网站应用微信登录：二维码页面"},
			{"GET", "/connect/qrcode/{uuid}", "登录二维码图片（PNG）"},
			{"GET", "/connect/confirm?uuid=", "二维码内容：手机扫码后打开的页面"},
		}
	case wechat.LongPollHost:
		return []endpoint{{"GET", "/connect/l/qrconnect?uuid&last&_", "扫码状态长轮询（408/404/405/403/402）"}}
	case wechat.APIHost:
		return []endpoint{
			{"GET", "/sns/oauth2/access_token", "用 code 换 access_token"},
			{"GET", "/sns/oauth2/refresh_token", "刷新 access_token"},
			{"GET", "/sns/auth", "检验 access_token"},
			{"GET", "/sns/userinfo", "用户个人信息"},
			{"GET", "/sns/jscode2session", "小程序登录 code2Session"},
			{"GET", "/cgi-bin/token", "接口调用凭证"},
			{"POST", "/cityservice/face/identify/getverifyid", "人脸核身：获取 verify_id"},
			{"POST", "/cityservice/face/identify/queryverifyinfo", "人脸核身：查询结果"},
			{"POST", "/wxa/business/getuserphonenumber", "小程序手机号"},
		}
	case wechat.AvatarHost:
		return []endpoint{{"GET", "/mmopen/vi_32/{seed}/132", "头像图片"}}
	case wechat.SandboxHost:
		return []endpoint{
			{"POST", "/login", "沙箱定义：模拟小程序 wx.login()，返回 js_code"},
			{"POST", "/getphonenumber", "沙箱定义：模拟手机号按钮，返回手机号 code"},
			{"GET", "/face?verify_id=", "沙箱定义：人脸核身入口（指向虚拟手机）"},
		}
	case alipay.HostOpenAPI:
		return []endpoint{{"POST", "/gateway.do", "开放平台网关（按 method 分发）"}, {"GET", alipay.PublicKeyPath, "沙箱“支付宝公钥”"}}
	case alipay.HostOpenAuth:
		return []endpoint{{"GET", "/oauth2/publicAppAuthorize.htm", "网页授权（扫码登录）"}}
	case ctid.Host:
		return []endpoint{
			{"GET", ctid.PublicKeyPath, "平台公钥（PEM）"},
			{"POST", "/v1/apply", "申请业务流水号 bsn"},
			{"POST", "/v1/query", "按 bsn 查询状态"},
			{"POST", "/v1/identity", "授权码换取芯片身份信息"},
			{"POST", "/v1/verification", "两要素 / 两要素+人像核验"},
			{"GET", "/app/auth?bsn=", "二维码内容：CTID App 打开的页面"},
		}
	case sms.Host:
		return []endpoint{{"GET/POST", "/?Action=SendSms", "发送短信（RPC 签名 HMAC-SHA1）"}}
	case govidp.Host:
		return []endpoint{{"GET", "/.well-known/openid-configuration", "OpenID Connect 发现文档"}}
	}
	return nil
}

type hostView struct {
	Host      string
	Base      string
	Endpoints []endpoint
}

type credential struct {
	Vendor, ID, Name string
}

type indexData struct {
	Hosts       []hostView
	Credentials []credential
	PhoneURL    string
	Issuer      string
}

func (s *Sandbox) serveIndex(w http.ResponseWriter, r *http.Request) {
	d := indexData{PhoneURL: s.env.PublicURL + "/phone/", Issuer: s.idp.Issuer()}
	for _, h := range s.hosts {
		d.Hosts = append(d.Hosts, hostView{Host: h, Base: s.env.URL(h, "/"), Endpoints: endpointsOf(h)})
	}
	for _, a := range s.apps.WeChat {
		d.Credentials = append(d.Credentials, credential{"微信 AppID", a.AppID, a.Name})
	}
	for _, a := range s.apps.Alipay {
		d.Credentials = append(d.Credentials, credential{"支付宝 app_id", a.AppID, a.Name})
	}
	for _, o := range s.apps.CTID {
		d.Credentials = append(d.Credentials, credential{"CTID orgCode", o.OrgCode, o.Name})
	}
	for _, k := range s.apps.SMS {
		d.Credentials = append(d.Credentials, credential{"短信 AccessKeyId", k.AccessKeyID, k.SignName})
	}
	for _, c := range s.apps.OIDCClients {
		d.Credentials = append(d.Credentials, credential{"政务 IdP client_id", c.ID, ""})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.index.ExecuteTemplate(w, "index.html.tmpl", d); err != nil {
		s.log.Error("sandbox index", "error", err)
	}
}
