package alipay

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Methods the gateway knows.
const (
	methodOauthToken = "alipay.system.oauth.token"
	methodUserInfo   = "alipay.user.info.share"
	methodCertInit   = "alipay.user.certify.open.initialize"
	methodCertify    = "alipay.user.certify.open.certify"
	methodCertQuery  = "alipay.user.certify.open.query"
)

// Gateway codes (vendor-protocols.md §2.3).
const (
	codeSuccess     = "10000"
	codeUnavailable = "20000"
	codeTokenPerm   = "20001"
	codeMissing     = "40001"
	codeInvalid     = "40002"
	codeConditions  = "40003"
	codeBusiness    = "40004"
	codeCallLimit   = "40005"
	codePermission  = "40006"
)

// codeMsg is the English msg the gateway pairs with each code. 40002 and
// 40004 are seen in real responses; the others are UNCONFIRMED wording.
var codeMsg = map[string]string{
	codeSuccess:     "Success",
	codeUnavailable: "Service Currently Unavailable",
	codeTokenPerm:   "Insufficient Token Permissions",
	codeMissing:     "Missing Required Arguments",
	codeInvalid:     "Invalid Arguments",
	codeConditions:  "Insufficient Conditions",
	codeBusiness:    "Business Failed",
	codeCallLimit:   "Call Limited",
	codePermission:  "Insufficient Permissions",
}

// subMsg holds the sub_msg of the public sub_codes (公共错误码) the sandbox
// answers with.
var subMsg = map[string]string{
	"isp.unknow-error":                           "服务暂不可用（业务系统不可用）",
	"aop.unknow-error":                           "服务暂不可用（网关自身的未知错误）",
	"aop.invalid-auth-token":                     "无效的访问令牌",
	"aop.auth-token-time-out":                    "访问令牌已过期",
	"aop.invalid-app-auth-token":                 "无效的应用授权令牌",
	"isv.missing-method":                         "缺少方法名参数",
	"isv.missing-signature":                      "缺少签名参数",
	"isv.missing-signature-type":                 "缺少签名类型参数",
	"isv.missing-app-id":                         "缺少appId参数",
	"isv.missing-timestamp":                      "缺少时间戳参数",
	"isv.missing-version":                        "缺少版本参数",
	"isv.invalid-parameter":                      "参数无效",
	"isv.invalid-method":                         "不存在的方法名",
	"isv.invalid-format":                         "无效的数据格式",
	"isv.invalid-signature-type":                 "无效的签名类型",
	"isv.invalid-app-id":                         "无效的AppID参数",
	"isv.invalid-timestamp":                      "非法的时间戳参数",
	"isv.invalid-charset":                        "字符集错误",
	"isv.decryption-error-not-valid-encrypt-key": "解密出错，未配置加密密钥或加密密钥格式错误",
	"isv.app-call-limited":                       "应用调用次数超限，包含调用频率超限",
	"isv.method-call-limited":                    "API调用次数超限，包含调用频率超限",
	"isv.insufficient-isv-permissions":           "ISV权限不足",
	"isv.insufficient-user-permissions":          "用户权限不足",
}

// invalidSignaturePrefix starts the sub_msg of isv.invalid-signature; the
// string the gateway verified follows it.
const invalidSignaturePrefix = "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为："

// timestampSkew is how far a request's timestamp (Beijing time) may be from
// the sandbox clock. UNCONFIRMED: the real window is not documented.
const timestampSkew = 15 * time.Minute

// timeFormat is the format of timestamp and auth_start.
const timeFormat = "2006-01-02 15:04:05"

// beijing is China Standard Time, UTC+8 all year.
var beijing = time.FixedZone("CST", 8*60*60)

// maxBody bounds a gateway request body.
const maxBody = 1 << 20

// fail returns a failed result with the msg of its code and, when subMsg
// is empty, the public sub_msg of its sub_code.
func fail(code, subCode, msg string) result {
	if msg == "" {
		msg = subMsg[subCode]
	}
	return result{code: code, msg: codeMsg[code], subCode: subCode, subMsg: msg}
}

// reply is one gateway answer: a node member and whether it is signed.
type reply struct {
	node     string
	result   result
	unsigned bool
}

// errorReply answers in error_response.
func errorReply(r result) reply { return reply{node: "error_response", result: r} }

// handler serves one method for an authenticated request.
type handler func(ctx context.Context, a *app, params url.Values) reply

// methodHandlers maps the server-called methods to their handlers;
// alipay.user.certify.open.certify is a page (serveCertify).
func (s *Sim) methodHandlers() map[string]handler {
	return map[string]handler{
		methodOauthToken: s.oauthToken,
		methodUserInfo:   s.userInfoShare,
		methodCertInit:   s.certifyInitialize,
		methodCertQuery:  s.certifyQuery,
	}
}

func (s *Sim) serveGateway(w http.ResponseWriter, r *http.Request) {
	injected, handled := s.env.Inject(w, r, "alipay", "/gateway.do")
	if handled {
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	params, err := readParams(r)
	if err == nil && params.Get("method") == methodCertify {
		s.serveCertify(w, r, params, injected)
		return
	}
	s.writeReply(w, s.gateway(r.Context(), params, err, injected))
}

// errDuplicate reports a parameter given more than once.
var errDuplicate = errors.New("duplicate parameter")

// readParams returns the request's parameters from the query string and
// the form body together, one value per key.
func readParams(r *http.Request) (url.Values, error) {
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	return checkParams(r.Form)
}

// checkParams refuses repeated keys and text that is not UTF-8.
func checkParams(form url.Values) (url.Values, error) {
	for k, v := range form {
		if len(v) > 1 {
			return nil, errDuplicate
		}
		if !utf8.ValidString(k) || (len(v) == 1 && !utf8.ValidString(v[0])) {
			return nil, errNotUTF8
		}
	}
	return form, nil
}

var errNotUTF8 = errors.New("not UTF-8")

// gateway answers one request. parseErr is readParams' error; injected is
// a fault code to answer with instead of the method's result.
func (s *Sim) gateway(ctx context.Context, params url.Values, parseErr error, injected string) reply {
	switch {
	case errors.Is(parseErr, errNotUTF8):
		return errorReply(fail(codeInvalid, "isv.invalid-charset", ""))
	case parseErr != nil:
		return errorReply(fail(codeInvalid, "isv.invalid-parameter", ""))
	}
	method := params.Get("method")
	if method == "" {
		return errorReply(fail(codeMissing, "isv.missing-method", ""))
	}
	h, known := s.methods[method]
	if !known {
		return errorReply(fail(codeInvalid, "isv.invalid-method", ""))
	}
	node := nodeName(method)
	// The real gateway answers an unknown app inside the method's node
	// without a signature ([COMMUNITY] shadowsocks/shadowsocks-manager#139).
	appID := params.Get("app_id")
	if appID == "" {
		return reply{node: node, result: fail(codeMissing, "isv.missing-app-id", ""), unsigned: true}
	}
	a := s.apps[appID]
	if a == nil {
		return reply{node: node, result: fail(codeInvalid, "isv.invalid-app-id", ""), unsigned: true}
	}
	if res, bad := s.checkCommon(params, a); bad {
		return reply{node: node, result: res}
	}
	if injected != "" {
		return reply{node: node, result: injectedResult(injected)}
	}
	rep := h(ctx, a, params)
	if rep.node == "" {
		rep.node = node
	}
	return rep
}

// checkCommon checks the common parameters and the signature. bad is true
// with the result to answer when a check fails.
func (s *Sim) checkCommon(params url.Values, a *app) (res result, bad bool) {
	if cs := params.Get("charset"); cs != "" && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return fail(codeInvalid, "isv.invalid-charset", ""), true
	}
	if params.Get("sign") == "" {
		return fail(codeMissing, "isv.missing-signature", ""), true
	}
	switch st := params.Get("sign_type"); {
	case st == "":
		return fail(codeMissing, "isv.missing-signature-type", ""), true
	case st != "RSA2":
		return fail(codeInvalid, "isv.invalid-signature-type", ""), true
	}
	ts := params.Get("timestamp")
	if ts == "" {
		return fail(codeMissing, "isv.missing-timestamp", ""), true
	}
	if !s.timestampOK(ts) {
		return fail(codeInvalid, "isv.invalid-timestamp", ""), true
	}
	switch v := params.Get("version"); {
	case v == "":
		return fail(codeMissing, "isv.missing-version", ""), true
	case v != "1.0":
		return fail(codeInvalid, "isv.invalid-parameter", "不支持的版本号version"), true
	}
	if f := params.Get("format"); f != "" && !strings.EqualFold(f, "JSON") {
		return fail(codeInvalid, "isv.invalid-format", ""), true
	}
	base := signatureBase(params)
	if verifyRSA2(a.pub, []byte(base), params.Get("sign")) != nil {
		return fail(codeInvalid, "isv.invalid-signature", invalidSignaturePrefix+base), true
	}
	if params.Get("encrypt_type") != "" {
		return fail(codeInvalid, "isv.decryption-error-not-valid-encrypt-key", ""), true
	}
	if params.Get("app_auth_token") != "" {
		return fail(codeTokenPerm, "aop.invalid-app-auth-token", ""), true
	}
	return result{}, false
}

// timestampOK checks the yyyy-MM-dd HH:mm:ss format and the skew window.
func (s *Sim) timestampOK(ts string) bool {
	t, err := time.ParseInLocation(timeFormat, ts, beijing)
	if err != nil {
		return false
	}
	d := t.Sub(s.now())
	return d <= timestampSkew && d >= -timestampSkew
}

// injectedResult renders a fault code Alipay-style. A gateway code
// ("20000", "40005", ...) gets a matching public sub_code; a sub_code
// ("isp.unknow-error", "aop.invalid-auth-token", "ACQ.SYSTEM_ERROR", ...)
// gets the gateway code its prefix implies.
func injectedResult(code string) result {
	const injectedMsg = "沙箱注入的故障"
	if _, isCode := codeMsg[code]; isCode {
		sub := map[string]string{
			codeUnavailable: "isp.unknow-error",
			codeTokenPerm:   "aop.invalid-auth-token",
			codeInvalid:     "isv.invalid-parameter",
			codeCallLimit:   "isv.app-call-limited",
			codePermission:  "isv.insufficient-isv-permissions",
		}[code]
		if sub == "" {
			return fail(code, "sandbox.injected-fault", injectedMsg)
		}
		return fail(code, sub, "")
	}
	msg := subMsg[code]
	if msg == "" {
		msg = injectedMsg
	}
	switch {
	case strings.HasPrefix(code, "isp.") || code == "aop.unknow-error":
		return fail(codeUnavailable, code, msg)
	case strings.HasPrefix(code, "aop."):
		return fail(codeTokenPerm, code, msg)
	case strings.HasPrefix(code, "isv.missing-"):
		return fail(codeMissing, code, msg)
	case strings.HasSuffix(code, "-call-limited"):
		return fail(codeCallLimit, code, msg)
	case strings.HasPrefix(code, "isv.insufficient-"):
		return fail(codePermission, code, msg)
	case strings.HasPrefix(code, "isv."):
		return fail(codeInvalid, code, msg)
	}
	return fail(codeBusiness, code, msg)
}

// writeReply sends a reply: the node's bytes are built once, signed, and
// written unchanged.
func (s *Sim) writeReply(w http.ResponseWriter, rep reply) {
	value := nodeJSON(rep.result)
	var sign string
	if !rep.unsigned {
		var err error
		if sign, err = signRSA2(s.key, value); err != nil {
			s.log.Error("alipay: sign response", "error", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(responseBody(rep.node, value, sign))
}
