// Package flowpage holds what the journeys' handlers share: their common
// dependencies (Deps), loading the flow a URL names for the browser that
// asks (with the refusal page when it belongs to another browser or has
// expired), the vendor callback of a scan, the face-verification step
// (FaceStep), the per-address limit on starting flows, the client
// address, the checks of typed names, and the wording of SMS refusals.
package flowpage

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/shiming-id/shiming/gateway/flow"
	"github.com/shiming-id/shiming/gateway/httpserver"
	"github.com/shiming-id/shiming/gateway/password"
	"github.com/shiming-id/shiming/gateway/ratelimit"
	"github.com/shiming-id/shiming/gateway/session"
	"github.com/shiming-id/shiming/gateway/smscode"
	"github.com/shiming-id/shiming/gateway/web"
	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

// textNoBinding refuses a flow URL opened by a browser that never started
// a flow, or whose session ended.
const textNoBinding = "无法继续本次操作：它可能已超时，或是在另一个浏览器中开始的。请从报名入口重新开始。"

// Load loads the flow of kind named id for the browser of r. When it
// cannot, it writes the refusal (403 for another browser's flow, 404 for
// an unknown or expired one) and returns nil. The binding is returned for
// later updates.
func Load[S any](w http.ResponseWriter, r *http.Request, sessions *session.Manager, e *flow.Engine, kind, id string) (*flow.Flow[S], string) {
	binding, err := sessions.CurrentBinding(r)
	if err != nil {
		httpserver.Error(w, r, http.StatusServiceUnavailable, "", err)
		return nil, ""
	}
	if binding == "" {
		httpserver.Error(w, r, http.StatusForbidden, textNoBinding, nil)
		return nil, ""
	}
	f, err := flow.Load[S](r.Context(), e, kind, id, binding)
	switch {
	case errors.Is(err, flow.ErrForeign):
		httpserver.Error(w, r, http.StatusForbidden, web.TextFlowForeign, fmt.Errorf("%s flow used from another browser", kind))
		return nil, ""
	case errors.Is(err, flow.ErrNotFound):
		httpserver.Error(w, r, http.StatusNotFound, web.TextFlowExpired, nil)
		return nil, ""
	case err != nil:
		httpserver.Error(w, r, http.StatusInternalServerError, "", err)
		return nil, ""
	}
	return f, binding
}

// UpdateError writes the page for an error of flow.Update that is not the
// change function's own.
func UpdateError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, flow.ErrForeign):
		httpserver.Error(w, r, http.StatusForbidden, web.TextFlowForeign, err)
	case errors.Is(err, flow.ErrNotFound):
		httpserver.Error(w, r, http.StatusNotFound, web.TextFlowExpired, nil)
	case errors.Is(err, flow.ErrConflict):
		httpserver.Error(w, r, http.StatusConflict, "页面同时提交了多次。请刷新页面后继续。", err)
	default:
		httpserver.Error(w, r, http.StatusInternalServerError, "", err)
	}
}

// RuleFlowStart limits how often one address may start a journey.
const RuleFlowStart = "flow_start_ip"

// Starter limits the journeys one client address may start per minute.
type Starter struct {
	Limiter  *ratelimit.Limiter
	PerMin   int
	ClientIP func(*http.Request) string
}

// Allow counts a start for r's address and writes the 429 page when it is
// over the limit.
func (s Starter) Allow(w http.ResponseWriter, r *http.Request) bool {
	if s.PerMin <= 0 {
		return true
	}
	d, err := s.Limiter.Take(r.Context(), s.ClientIP(r), ratelimit.Rule{Name: RuleFlowStart, Limit: int64(s.PerMin), Window: time.Minute})
	if err != nil {
		httpserver.Error(w, r, http.StatusServiceUnavailable, "", err)
		return false
	}
	if !d.Allowed {
		w.Header().Set("Retry-After", fmt.Sprint(int(d.RetryAfter.Seconds())+1))
		httpserver.Error(w, r, http.StatusTooManyRequests, "操作过于频繁，请"+web.Wait(d.RetryAfter)+"后再试。", nil)
		return false
	}
	return true
}

// RemoteIP is the default client address: the host of RemoteAddr.
func RemoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Name problems.
var (
	ErrNameEmpty = errors.New("flowpage: empty name")
	ErrNameShape = errors.New("flowpage: not a Chinese name")
)

// NormalizeName trims a typed name and writes its middle dots as "·"
// (U+00B7), however the input method typed them.
func NormalizeName(s string) string {
	s = strings.TrimSpace(s)
	return strings.Map(func(r rune) rune {
		switch r {
		case '•', '・', '．', '.', '･', '‧', '∙':
			return '·'
		case ' ', '\u3000':
			return -1
		}
		return r
	}, s)
}

// CheckName accepts a normalized Chinese name: 2 to 20 characters, Han
// characters and "·" only, not starting or ending with "·".
func CheckName(name string) error {
	n := utf8.RuneCountInString(name)
	if n == 0 {
		return ErrNameEmpty
	}
	if n < 2 || n > 20 || strings.HasPrefix(name, "·") || strings.HasSuffix(name, "·") {
		return ErrNameShape
	}
	for _, r := range name {
		if r != '·' && !unicode.Is(unicode.Han, r) {
			return ErrNameShape
		}
	}
	return nil
}

// NameError is the field message for a CheckName error.
func NameError(err error) string {
	if errors.Is(err, ErrNameEmpty) {
		return "请填写姓名。"
	}
	return "请填写身份证上的中文姓名（2至20个汉字，少数民族姓名中的“·”请一并填写）。"
}

// SMSRefusal maps an error of smscode's Send, Reserve or Check to a field
// message (for the code field) or a notice; the other return is empty.
func SMSRefusal(err error, provider string) (codeField string, notice *web.Notice) {
	var le *smscode.LimitError
	switch {
	case errors.As(err, &le):
		text := "短信验证码发送过于频繁，请" + web.Wait(le.RetryAfter) + "后再试。"
		if le.Rule != smscode.RuleResend {
			text = "今日短信验证码发送次数已达上限，请" + web.Wait(le.RetryAfter) + "后再试。"
		}
		return "", &web.Notice{Tone: web.ToneWarn, Kind: "rate_limited", Text: text}
	case errors.Is(err, smscode.ErrNotSent):
		// No live code: the page shows no code field to hang a message
		// on, so it is a notice.
		return "", NoCodeNotice()
	case errors.Is(err, smscode.ErrWrongPhone):
		return web.TextSMSWrongPhone, nil
	case errors.Is(err, smscode.ErrAttempts):
		return web.TextSMSAttempts, nil
	case errors.Is(err, smscode.ErrExpired):
		return web.TextSMSExpired, nil
	}
	switch k := sdk.KindOf(err); k {
	case sdk.CodeInvalid, sdk.Expired, sdk.InvalidRequest:
		return web.KindText(web.AtSMS, k, provider), nil
	default:
		return "", &web.Notice{Tone: web.ToneWarn, Kind: k.String(), Text: web.KindText(web.AtSMS, k, provider)}
	}
}

// IsSMSRefusal reports whether err is smscode's own refusal of a code
// (as opposed to a failed flow update).
func IsSMSRefusal(err error) bool {
	return errors.Is(err, smscode.ErrNotSent) || errors.Is(err, smscode.ErrWrongPhone) ||
		errors.Is(err, smscode.ErrAttempts) || errors.Is(err, smscode.ErrExpired)
}

// PhoneData is the data of a page that sends an SMS code and asks for it,
// posting to action: once the flow's ticket t was sent for purpose, the
// masked phone, the attempts left, how long the code lives and when it
// may be sent again.
func PhoneData(action string, t smscode.Ticket, purpose string, sms *smscode.Sender) web.PhoneData {
	data := web.PhoneData{Action: action}
	if t.Sent() && t.Purpose == purpose {
		data.Sent, data.MaskedPhone, data.AttemptsLeft = true, cnid.MaskPhone(t.Phone), t.AttemptsLeft()
		data.ValidFor = web.ValidFor(t.ValidFor())
		if d := sms.ResendIn(t); d > 0 {
			data.ResendIn = web.Wait(d)
		}
	}
	return data
}

// NoCodeNotice explains a code typed when none is live: never sent in
// this browser's flow, or already used.
func NoCodeNotice() *web.Notice {
	return &web.Notice{Tone: web.ToneWarn, Kind: KindNoCode, Text: web.TextSMSNotSent}
}

// KindNoCode is the data-error-kind of NoCodeNotice.
const KindNoCode = "code_not_sent"

// PasswordError is the field message for a password.CheckPolicy error.
func PasswordError(err error) string {
	switch {
	case errors.Is(err, password.ErrTooShort):
		return "密码至少8位。"
	case errors.Is(err, password.ErrTooLong):
		return "密码最多64位。"
	case errors.Is(err, password.ErrTooSimple):
		return "密码须同时包含字母和数字。"
	case errors.Is(err, password.ErrContainsID):
		return "密码不能包含身份证号码或手机号码。"
	case errors.Is(err, password.ErrControlChar):
		return "密码含有不能使用的字符。"
	}
	return "密码不符合要求。"
}
