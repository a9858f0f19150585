// Package sms simulates Alibaba Cloud SMS (dysmsapi.aliyuncs.com, RPC
// action SendSms, version 2017-05-25) for the sandbox: the HMAC-SHA1
// request signature, the documented error codes and per-phone flow
// control, delivering each message to the virtual phone's inbox.
package sms

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/phone"
	"github.com/shiming-id/shiming/contrib/sandbox/simenv"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

// Host is the simulated endpoint.
const Host = "dysmsapi.aliyuncs.com"

// Vendor is the name used for fault rules.
const Vendor = "sms"

// APIVersion is the only Version the simulator accepts.
const APIVersion = "2017-05-25"

// Key is an AccessKey pair with the signature (签名) approved for it.
type Key struct {
	AccessKeyID     string `yaml:"access_key_id"`
	AccessKeySecret string `yaml:"access_key_secret"`
	SignName        string `yaml:"sign_name"`
}

// GenerateKey returns a demo AccessKey pair for a signature name.
func GenerateKey(signName string) (Key, error) {
	id, err := randomAlnum(20)
	if err != nil {
		return Key{}, err
	}
	secret, err := randomAlnum(30)
	if err != nil {
		return Key{}, err
	}
	return Key{AccessKeyID: "LTAI" + id, AccessKeySecret: secret, SignName: signName}, nil
}

// Template kinds: verification codes and notices have different limits.
const (
	KindCode   = "code"
	KindNotice = "notice"
)

// Template is an approved message template; ${name} marks a variable.
type Template struct {
	Code    string
	Kind    string
	Content string
}

// DefaultTemplates are the templates every sandbox key may use.
func DefaultTemplates() []Template {
	return []Template{
		{Code: "SMS_SHIMING_CODE", Kind: KindCode, Content: "您的验证码为${code}，${minutes}分钟内有效，请勿泄露。"},
		{Code: "SMS_SHIMING_PHONE_CHANGED", Kind: KindNotice, Content: "您的报名账号绑定手机号已变更为${phone}。如非本人操作，请立即联系考试机构。"},
	}
}

// Limits is the flow control per phone and signature. Zero fields take
// Alibaba Cloud's defaults (verification codes 1/minute, 5/hour,
// 10/day; notices 50/day per template); a negative field means no limit.
// Windows are rolling.
type Limits struct {
	PerMinute    int `yaml:"per_minute"`
	PerHour      int `yaml:"per_hour"`
	PerDay       int `yaml:"per_day"`
	NoticePerDay int `yaml:"notice_per_day"`
}

func (l Limits) withDefaults() Limits {
	def := func(v, d int) int {
		if v == 0 {
			return d
		}
		return v
	}
	return Limits{def(l.PerMinute, 1), def(l.PerHour, 5), def(l.PerDay, 10), def(l.NoticePerDay, 50)}
}

// Options tune the simulator.
type Options struct {
	Limits Limits
	// Templates replace DefaultTemplates when set.
	Templates []Template
	// InboxSize is how many messages each phone keeps (50).
	InboxSize int
}

const (
	timestampSkew = 15 * time.Minute
	maxPhones     = 1000
)

// Sim is the simulated SMS service.
type Sim struct {
	env       simenv.Env
	log       *slog.Logger
	keys      map[string]Key
	templates map[string]Template
	limits    Limits
	inboxSize int

	mu        sync.Mutex
	nonces    map[string]time.Time       // AccessKeyId + nonce -> when
	sends     map[string][]time.Time     // flow-control key -> send times
	inbox     map[string][]phone.Message // by phone, oldest first
	lastSweep time.Time
}

// New returns the simulator for the given keys.
func New(env simenv.Env, keys []Key, opts Options) (*Sim, error) {
	if env.Now == nil {
		env.Now = time.Now
	}
	s := &Sim{env: env, log: env.Logger, keys: map[string]Key{}, templates: map[string]Template{},
		limits: opts.Limits.withDefaults(), inboxSize: opts.InboxSize,
		nonces: map[string]time.Time{}, sends: map[string][]time.Time{}, inbox: map[string][]phone.Message{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.inboxSize <= 0 {
		s.inboxSize = 50
	}
	var problems []string
	for i, k := range keys {
		if k.AccessKeyID == "" || k.AccessKeySecret == "" || k.SignName == "" {
			problems = append(problems, fmt.Sprintf("key %d: access_key_id, access_key_secret and sign_name are required", i))
		}
		if _, dup := s.keys[k.AccessKeyID]; dup {
			problems = append(problems, fmt.Sprintf("key %s: duplicate access_key_id", k.AccessKeyID))
		}
		s.keys[k.AccessKeyID] = k
	}
	tpls := opts.Templates
	if tpls == nil {
		tpls = DefaultTemplates()
	}
	for _, t := range tpls {
		if t.Code == "" || (t.Kind != KindCode && t.Kind != KindNotice) {
			problems = append(problems, fmt.Sprintf("template %q: code and a kind (code or notice) are required", t.Code))
		}
		s.templates[t.Code] = t
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("sms: %s", strings.Join(problems, "; "))
	}
	return s, nil
}

// Routes serves the RPC endpoint at the host's root.
func (s *Sim) Routes() map[string]http.Handler {
	return map[string]http.Handler{Host: http.HandlerFunc(s.serve)}
}

// Messages returns the messages delivered to a phone, newest first.
func (s *Sim) Messages(ctx context.Context, phoneNumber string) []phone.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	msgs := s.inbox[phoneNumber]
	out := make([]phone.Message, len(msgs))
	for i, m := range msgs {
		out[len(msgs)-1-i] = m
	}
	return out
}

// Error is a failed call: HTTP status, Alibaba Cloud code and message.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return "sms: " + e.Code + ": " + e.Message }

func fail(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// Messages of the documented business errors (HTTP 200).
var businessMessages = map[string]string{
	"isv.MOBILE_NUMBER_ILLEGAL":       "非法手机号",
	"isv.MOBILE_COUNT_OVER_LIMIT":     "手机号码数量超过限制",
	"isv.SMS_SIGNATURE_ILLEGAL":       "该账号下找不到对应签名",
	"isv.SMS_TEMPLATE_ILLEGAL":        "该账号下找不到对应模板",
	"isv.INVALID_JSON_PARAM":          "JSON参数不合法，只接受字符串值",
	"isv.TEMPLATE_MISSING_PARAMETERS": "模版缺少变量",
	"isv.BUSINESS_LIMIT_CONTROL":      "业务限流",
	"isv.DAY_LIMIT_CONTROL":           "触发日发送限额",
	"isv.OUT_OF_SERVICE":              "业务停机",
	"isv.AMOUNT_NOT_ENOUGH":           "账户余额不足",
	"isp.SYSTEM_ERROR":                "系统出现错误，请重新调用",
}

func business(code string) *Error {
	return fail(http.StatusOK, code, businessMessages[code])
}

// request is a parsed SendSms call.
type request struct {
	params url.Values
	key    Key
	format string
}

var commonParams = []string{"AccessKeyId", "Action", "Signature", "SignatureMethod", "SignatureNonce", "SignatureVersion", "Timestamp", "Version"}

// authenticate checks the common parameters and the signature of a call
// and, if they pass, uses up its nonce.
func (s *Sim) authenticate(method string, params url.Values) (request, *Error) {
	req := request{params: params, format: "JSON"}
	if strings.EqualFold(params.Get("Format"), "XML") {
		req.format = "XML"
	}
	for _, p := range commonParams {
		if params.Get(p) == "" {
			return req, fail(http.StatusBadRequest, "Missing"+p, p+" is mandatory for this action.")
		}
	}
	key, ok := s.keys[params.Get("AccessKeyId")]
	if !ok {
		return req, fail(http.StatusNotFound, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
	}
	req.key = key
	if params.Get("SignatureMethod") != "HMAC-SHA1" {
		return req, fail(http.StatusBadRequest, "InvalidSignatureMethod", "Specified signature method is not valid.")
	}
	if params.Get("SignatureVersion") != "1.0" {
		return req, fail(http.StatusBadRequest, "InvalidSignatureVersion", "Specified signature version is not valid.")
	}
	ts, err := time.Parse("2006-01-02T15:04:05Z", params.Get("Timestamp"))
	if err != nil {
		return req, fail(http.StatusBadRequest, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.")
	}
	now := s.env.Now()
	if d := now.Sub(ts); d > timestampSkew || d < -timestampSkew {
		return req, fail(http.StatusBadRequest, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")
	}
	want := Sign(method, params, key.AccessKeySecret)
	if subtle.ConstantTimeCompare([]byte(want), []byte(params.Get("Signature"))) != 1 {
		return req, fail(http.StatusBadRequest, "SignatureDoesNotMatch",
			"Specified signature is not matched with our calculation. server string to sign is:"+StringToSign(method, params))
	}
	nonce := key.AccessKeyID + "\x00" + params.Get("SignatureNonce")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(now)
	if _, used := s.nonces[nonce]; used {
		return req, fail(http.StatusBadRequest, "SignatureNonceUsed", "Specified signature nonce was used already.")
	}
	s.nonces[nonce] = now
	if params.Get("Version") != APIVersion {
		return req, fail(http.StatusBadRequest, "InvalidVersion", "Specified parameter Version is not valid.")
	}
	if params.Get("Action") != "SendSms" {
		return req, fail(http.StatusNotFound, "InvalidAction.NotFound", "Specified api is not found, please check your url and method.")
	}
	return req, nil
}

// sweepLocked forgets nonces older than the timestamp window allows and
// send times older than a day.
func (s *Sim) sweepLocked(now time.Time) {
	if now.Sub(s.lastSweep) < time.Minute {
		return
	}
	s.lastSweep = now
	for k, t := range s.nonces {
		if now.Sub(t) > 2*timestampSkew {
			delete(s.nonces, k)
		}
	}
	for k, times := range s.sends {
		if len(times) == 0 || now.Sub(times[len(times)-1]) > 24*time.Hour {
			delete(s.sends, k)
		}
	}
}

var templateVar = regexp.MustCompile(`\$\{(\w+)\}`)

// parseTemplateParam reads TemplateParam: a JSON object of strings.
func parseTemplateParam(raw string) (map[string]string, bool) {
	if strings.TrimSpace(raw) == "" {
		return map[string]string{}, true
	}
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(raw))
	if err := dec.Decode(&m); err != nil || m == nil || dec.More() {
		return nil, false
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			return nil, false
		}
		out[k] = s
	}
	return out, true
}

// render fills a template; ok is false if a variable has no value.
func render(content string, vars map[string]string) (string, bool) {
	ok := true
	text := templateVar.ReplaceAllStringFunc(content, func(m string) string {
		v, has := vars[m[2:len(m)-1]]
		if !has || v == "" {
			ok = false
		}
		return v
	})
	return text, ok
}

// parsePhones splits PhoneNumbers and normalises each number.
func parsePhones(raw string) ([]string, *Error) {
	parts := strings.Split(raw, ",")
	if len(parts) > maxPhones {
		return nil, business("isv.MOBILE_COUNT_OVER_LIMIT")
	}
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		n, err := cnid.ParsePhone(p)
		if err != nil {
			return nil, business("isv.MOBILE_NUMBER_ILLEGAL")
		}
		out = append(out, n)
	}
	return out, nil
}

// sendResult is what a successful SendSms answers.
type sendResult struct {
	BizID string
}

// send validates the business parameters, applies flow control and
// delivers the message to every phone.
func (s *Sim) send(req request) (sendResult, *Error) {
	p := req.params
	for _, name := range []string{"PhoneNumbers", "SignName", "TemplateCode"} {
		if p.Get(name) == "" {
			return sendResult{}, fail(http.StatusBadRequest, "Missing"+name, name+" is mandatory for this action.")
		}
	}
	phones, ferr := parsePhones(p.Get("PhoneNumbers"))
	if ferr != nil {
		return sendResult{}, ferr
	}
	if p.Get("SignName") != req.key.SignName {
		return sendResult{}, business("isv.SMS_SIGNATURE_ILLEGAL")
	}
	tpl, ok := s.templates[p.Get("TemplateCode")]
	if !ok {
		return sendResult{}, business("isv.SMS_TEMPLATE_ILLEGAL")
	}
	vars, ok := parseTemplateParam(p.Get("TemplateParam"))
	if !ok {
		return sendResult{}, business("isv.INVALID_JSON_PARAM")
	}
	content, ok := render(tpl.Content, vars)
	if !ok {
		return sendResult{}, business("isv.TEMPLATE_MISSING_PARAMETERS")
	}
	now := s.env.Now()
	bizID := newBizID()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ph := range phones {
		if e := s.limitedLocked(ph, req.key.SignName, tpl, now); e != nil {
			return sendResult{}, e
		}
	}
	for _, ph := range phones {
		k := flowKey(ph, req.key.SignName, tpl)
		s.sends[k] = append(s.sends[k], now)
		msgs := append(s.inbox[ph], phone.Message{
			Phone: ph, SignName: req.key.SignName, TemplateCode: tpl.Code,
			Text: "【" + req.key.SignName + "】" + content, Code: vars["code"], BizID: bizID, Sent: now,
		})
		if len(msgs) > s.inboxSize {
			msgs = msgs[len(msgs)-s.inboxSize:]
		}
		s.inbox[ph] = msgs
		s.log.Info("sms delivered", "phone", cnid.MaskPhone(ph), "template", tpl.Code, "access_key_id", req.key.AccessKeyID)
	}
	return sendResult{BizID: bizID}, nil
}

func flowKey(ph, sign string, tpl Template) string {
	if tpl.Kind == KindCode {
		return ph + "\x00" + sign + "\x00code"
	}
	return ph + "\x00" + sign + "\x00" + tpl.Code
}

// limitedLocked applies the flow control of one phone.
func (s *Sim) limitedLocked(ph, sign string, tpl Template, now time.Time) *Error {
	times := s.sends[flowKey(ph, sign, tpl)]
	count := func(window time.Duration) int {
		n := 0
		for _, t := range times {
			if now.Sub(t) < window {
				n++
			}
		}
		return n
	}
	type rule struct {
		limit  int
		window time.Duration
		text   string
	}
	rules := []rule{{s.limits.NoticePerDay, 24 * time.Hour, "触发天级流控Permits:%d"}}
	if tpl.Kind == KindCode {
		rules = []rule{
			{s.limits.PerMinute, time.Minute, "触发分钟级流控Permits:%d"},
			{s.limits.PerHour, time.Hour, "触发小时级流控Permits:%d"},
			{s.limits.PerDay, 24 * time.Hour, "触发天级流控Permits:%d"},
		}
	}
	for _, r := range rules {
		if r.limit >= 0 && count(r.window) >= r.limit {
			return fail(http.StatusOK, "isv.BUSINESS_LIMIT_CONTROL", fmt.Sprintf(r.text, r.limit))
		}
	}
	return nil
}

// serve handles one RPC call (GET query, or POST form).
func (s *Sim) serve(w http.ResponseWriter, r *http.Request) {
	if code, handled := s.env.Inject(w, r, Vendor, r.URL.Path); handled {
		return
	} else if code != "" {
		status := http.StatusBadRequest
		if strings.HasPrefix(code, "isv.") || strings.HasPrefix(code, "isp.") {
			status = http.StatusOK
		}
		msg := businessMessages[code]
		if msg == "" {
			msg = "sandbox injected fault"
		}
		s.writeError(w, formatOf(r), fail(status, code, msg))
		return
	}
	if r.URL.Path != "/" {
		s.writeError(w, formatOf(r), fail(http.StatusNotFound, "InvalidAction.NotFound", "Specified api is not found, please check your url and method."))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		s.writeError(w, formatOf(r), fail(http.StatusMethodNotAllowed, "UnsupportedHTTPMethod", "This http method is not supported."))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		s.writeError(w, "JSON", fail(http.StatusBadRequest, "InvalidParameter", "The request parameters cannot be parsed."))
		return
	}
	req, e := s.authenticate(r.Method, r.Form)
	if e != nil {
		s.log.Info("sms refused", "code", e.Code)
		s.writeError(w, req.format, e)
		return
	}
	res, e := s.send(req)
	if e != nil {
		s.log.Info("sms refused", "code", e.Code)
		s.writeError(w, req.format, e)
		return
	}
	s.write(w, req.format, http.StatusOK, sendResponse{Message: "OK", RequestID: newRequestID(), BizID: res.BizID, Code: "OK"})
}

func formatOf(r *http.Request) string {
	if strings.EqualFold(r.URL.Query().Get("Format"), "XML") {
		return "XML"
	}
	return "JSON"
}

type sendResponse struct {
	XMLName   xml.Name `json:"-" xml:"SendSmsResponse"`
	Message   string   `json:"Message"`
	RequestID string   `json:"RequestId"`
	BizID     string   `json:"BizId,omitempty" xml:"BizId,omitempty"`
	Code      string   `json:"Code"`
}

type commonError struct {
	XMLName   xml.Name `json:"-" xml:"Error"`
	RequestID string   `json:"RequestId"`
	HostID    string   `json:"HostId" xml:"HostId"`
	Code      string   `json:"Code"`
	Message   string   `json:"Message"`
	Recommend string   `json:"Recommend"`
}

// writeError answers a business error (HTTP 200, in the SendSms shape)
// or a gateway error (4xx, in the common error shape).
func (s *Sim) writeError(w http.ResponseWriter, format string, e *Error) {
	if e.Status == http.StatusOK {
		s.write(w, format, http.StatusOK, sendResponse{Message: e.Message, RequestID: newRequestID(), Code: e.Code})
		return
	}
	s.write(w, format, e.Status, commonError{
		RequestID: newRequestID(), HostID: Host, Code: e.Code, Message: e.Message,
		Recommend: "https://next.api.aliyun.com/troubleshoot?q=" + url.QueryEscape(e.Code) + "&product=Dysmsapi",
	})
}

func (s *Sim) write(w http.ResponseWriter, format string, status int, v any) {
	w.Header().Set("Cache-Control", "no-store")
	if format == "XML" {
		w.Header().Set("Content-Type", "text/xml;charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(xml.Header))
		_ = xml.NewEncoder(w).Encode(v)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := strings.ToUpper(hex.EncodeToString(b))
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func newBizID() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(9e17))
	return fmt.Sprintf("%018d^0", n.Int64()+1e17)
}

func randomAlnum(n int) (string, error) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		k, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			return "", err
		}
		b[i] = alphabet[k.Int64()]
	}
	return string(b), nil
}

var (
	_ phone.Inbox = (*Sim)(nil)
	_ error       = (*Error)(nil)
)
