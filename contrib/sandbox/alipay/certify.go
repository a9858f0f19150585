package alipay

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/citizens"
	"github.com/shiming-id/shiming/contrib/sandbox/phone"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

// certifyTTL is how long a certify_id can be opened (about 23 hours);
// certifyKeep how long it can be queried (3 months).
const (
	certifyTTL  = 23 * time.Hour
	certifyKeep = 90 * 24 * time.Hour
)

// Results of a certification.
const (
	certInit    = "init"    // initialized, the certify URL not yet opened
	certWaiting = "waiting" // opened on the phone
	certPassed  = "passed"
	certFailed  = "failed"
)

// Sandbox-defined fail_reason values (UNCONFIRMED: the real gateway gives
// the server no reason; the result page on the phone shows it).
const (
	reasonMismatch = "人脸比对不通过"
	reasonLiveness = "活体检测不通过"
)

// bizCodes are the accepted biz_code values.
var bizCodes = map[string]bool{"FACE": true, "CERT_PHOTO": true, "CERT_PHOTO_FACE": true, "SMART_FACE": true}

// certification is one alipay.user.certify.open.* transaction.
type certification struct {
	id         string
	appID      string
	outerOrder string
	bizCode    string
	name       string
	certNo     string
	returnURL  string
	person     citizens.Citizen // whose face the registry holds for certNo
	created    time.Time
	state      string
	failReason string
	itemID     string
	qr         string
}

// initRequest is the biz_content of alipay.user.certify.open.initialize.
type initRequest struct {
	OuterOrderNo   string          `json:"outer_order_no"`
	BizCode        string          `json:"biz_code"`
	IdentityParam  json.RawMessage `json:"identity_param"`
	MerchantConfig json.RawMessage `json:"merchant_config"`
}

type identityParam struct {
	IdentityType string `json:"identity_type"`
	CertType     string `json:"cert_type"`
	CertName     string `json:"cert_name"`
	CertNo       string `json:"cert_no"`
}

type merchantConfig struct {
	ReturnURL string `json:"return_url"`
}

// decodeObject reads a member that is a JSON object or, as the official
// documentation writes identity_param and merchant_config, a string
// holding one.
func decodeObject(raw json.RawMessage, v any) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return false
	}
	if raw[0] == '"' {
		var inner string
		if json.Unmarshal(raw, &inner) != nil {
			return false
		}
		raw = []byte(inner)
	}
	return json.Unmarshal(raw, v) == nil
}

func invalidParam(name string) result {
	return fail(codeInvalid, "isv.invalid-parameter", "参数无效："+name)
}

// certifyInitialize serves alipay.user.certify.open.initialize. Checks
// of the identity are the registry's (UNCONFIRMED sub_codes).
func (s *Sim) certifyInitialize(_ context.Context, a *app, params url.Values) reply {
	var req initRequest
	if json.Unmarshal([]byte(params.Get("biz_content")), &req) != nil {
		return reply{result: invalidParam("biz_content")}
	}
	var id identityParam
	var mc merchantConfig
	switch {
	case !alnum(req.OuterOrderNo, 32):
		return reply{result: invalidParam("outer_order_no")}
	case !bizCodes[req.BizCode]:
		return reply{result: invalidParam("biz_code")}
	case !decodeObject(req.IdentityParam, &id):
		return reply{result: invalidParam("identity_param")}
	case id.IdentityType != "CERT_INFO":
		return reply{result: invalidParam("identity_type")}
	case id.CertType != "IDENTITY_CARD":
		return reply{result: invalidParam("cert_type")}
	case strings.TrimSpace(id.CertName) == "":
		return reply{result: invalidParam("cert_name")}
	case id.CertNo == "":
		return reply{result: invalidParam("cert_no")}
	case !decodeObject(req.MerchantConfig, &mc) || !webURL(mc.ReturnURL):
		return reply{result: invalidParam("merchant_config.return_url")}
	}
	now := s.now()
	certNo := cnid.Normalize(id.CertNo)
	switch s.reg.CheckNameID(id.CertName, certNo, now) {
	case citizens.NameIDMatch:
	case citizens.NameIDMismatch:
		return reply{result: fail(codeBusiness, "NAME_CERT_NO_NOT_MATCH", "姓名和身份证号码不匹配")}
	default:
		return reply{result: fail(codeBusiness, "INVALID_CERT_NO", "身份证号码不合法")}
	}
	person, _ := s.reg.Resolve(id.CertName, certNo, "", now)

	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked()
	orderKey := a.AppID + "/" + req.OuterOrderNo
	if prev := s.certs[s.byOrder[orderKey]]; prev != nil {
		if prev.certNo != certNo || prev.name != id.CertName || prev.bizCode != req.BizCode {
			return reply{result: fail(codeBusiness, "OUTER_ORDER_NO_DUPLICATE", "商户请求唯一标识outer_order_no重复")}
		}
		// A retried initialize gets the same certify_id (sandbox-defined).
		return reply{result: ok(field{"certify_id", prev.id})}
	}
	c := &certification{
		id: randHex(16), appID: a.AppID, outerOrder: req.OuterOrderNo, bizCode: req.BizCode,
		name: id.CertName, certNo: certNo, returnURL: mc.ReturnURL, person: person,
		created: now, state: certInit,
	}
	s.certs[c.id] = c
	s.byOrder[orderKey] = c.id
	s.log.Info("alipay: certify initialized", "app_id", a.AppID, "cert_no", cnid.MaskID(certNo))
	return reply{result: ok(field{"certify_id", c.id})}
}

// certifyQuery serves alipay.user.certify.open.query.
func (s *Sim) certifyQuery(_ context.Context, a *app, params url.Values) reply {
	var req struct {
		CertifyID string `json:"certify_id"`
	}
	if json.Unmarshal([]byte(params.Get("biz_content")), &req) != nil || req.CertifyID == "" {
		return reply{result: invalidParam("certify_id")}
	}
	s.mu.Lock()
	c := s.certs[req.CertifyID]
	var cur certification
	if c != nil {
		cur = *c
	}
	s.mu.Unlock()
	if c == nil || cur.appID != a.AppID {
		return reply{result: fail(codeBusiness, "OPEN_CERTIFY_BILL_NOT_EXIST", "无效的certify_id")}
	}
	identity, _ := json.Marshal(identityParam{IdentityType: "CERT_INFO", CertType: "IDENTITY_CARD", CertName: cur.name, CertNo: cur.certNo})
	passed := "F"
	if cur.state == certPassed {
		passed = "T"
	}
	fields := []field{
		{"identity_info", string(identity)},
		{"material_info", "{}"},
		{"passed", passed},
	}
	if cur.state == certFailed {
		fields = append(fields, field{"fail_reason", cur.failReason})
	}
	return reply{result: ok(fields...)}
}

// serveCertify answers the certify URL (alipay.user.certify.open.certify,
// a signed GET the merchant builds and the phone opens) with a page for
// the phone, and puts a face item on the phone.
func (s *Sim) serveCertify(w http.ResponseWriter, r *http.Request, params url.Values, injected string) {
	if injected != "" {
		res := injectedResult(injected)
		s.renderError(w, http.StatusOK, res.subCode, res.subMsg)
		return
	}
	c, res := s.certifyFromParams(params)
	if c == nil {
		s.renderError(w, http.StatusOK, res.subCode, res.subMsg)
		return
	}
	s.openFace(c, s.env.URL(HostOpenAPI, "/gateway.do")+"?"+r.URL.RawQuery)
	s.render(w, http.StatusOK, "certify.html", map[string]any{
		"Name":      maskName(c.name),
		"CertNo":    cnid.MaskID(c.certNo),
		"AppName":   s.apps[c.appID].Name,
		"ReturnURL": c.returnURL,
		"Static":    s.env.URL(HostOpenAPI, "/sandbox/static/"),
	})
}

// certifyFromParams checks a certify URL's parameters like any gateway
// request and returns its certification, or the error to show.
func (s *Sim) certifyFromParams(params url.Values) (*certification, result) {
	a := s.apps[params.Get("app_id")]
	if a == nil {
		return nil, fail(codeInvalid, "isv.invalid-app-id", "")
	}
	if res, bad := s.checkCommon(params, a); bad {
		return nil, res
	}
	var req struct {
		CertifyID string `json:"certify_id"`
	}
	if json.Unmarshal([]byte(params.Get("biz_content")), &req) != nil || req.CertifyID == "" {
		return nil, invalidParam("certify_id")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.certs[req.CertifyID]
	if c == nil || c.appID != a.AppID {
		return nil, fail(codeBusiness, "OPEN_CERTIFY_BILL_NOT_EXIST", "无效的certify_id")
	}
	if !s.now().Before(c.created.Add(certifyTTL)) {
		return nil, fail(codeBusiness, "OPEN_CERTIFY_BILL_EXPIRED", "certify_id已过期")
	}
	return c, result{}
}

// openFace puts a certification on the phone unless it is already there
// or finished.
func (s *Sim) openFace(c *certification, qr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.state != certInit {
		return
	}
	c.state = certWaiting
	c.itemID = "alipay-face-" + c.id
	c.qr = qr
	s.faces[c.itemID] = c.id
}

// lookupFace recognises a certify URL and returns its face item.
func (s *Sim) lookupFace(u *url.URL, raw string) (phone.Item, bool) {
	if !strings.HasSuffix(u.Path, "/gateway.do") {
		return phone.Item{}, false
	}
	params, err := checkParams(u.Query())
	if err != nil || params.Get("method") != methodCertify {
		return phone.Item{}, false
	}
	c, _ := s.certifyFromParams(params)
	if c == nil {
		return phone.Item{}, false
	}
	s.openFace(c, raw)
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.itemID == "" {
		return phone.Item{}, false
	}
	return s.faceItem(c), true
}

// faceItem describes a certification for the phone. The caller holds s.mu.
func (s *Sim) faceItem(c *certification) phone.Item {
	it := phone.Item{
		ID:        c.itemID,
		Vendor:    vendor,
		App:       c.appID,
		Kind:      "face",
		Title:     "支付宝人脸认证：" + maskName(c.name) + "（" + s.apps[c.appID].Name + "）",
		State:     c.state,
		QRContent: c.qr,
		Created:   c.created,
		Expires:   c.created.Add(certifyTTL),
	}
	if c.state == certWaiting && s.now().Before(it.Expires) {
		it.Actions = []phone.Action{phone.Pass, phone.Fail}
	}
	return it
}

// actFace finishes a certification. Pass succeeds only for the person the
// certification is for, and only if that person's face passes.
func (s *Sim) actFace(c *certification, action phone.Action, holder citizens.Citizen) (phone.Outcome, error) {
	if action != phone.Pass && action != phone.Fail {
		return phone.Outcome{}, errorf(phone.ErrNotAllowed, "%s is not a face action", action)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.state != certWaiting {
		return phone.Outcome{}, errorf(phone.ErrNotAllowed, "certification is %s", c.state)
	}
	if !s.now().Before(c.created.Add(certifyTTL)) {
		return phone.Outcome{}, errorf(phone.ErrExpired, "certify_id expired")
	}
	face := c.person.Face
	if holder.IDNumber != "" && cnid.Normalize(holder.IDNumber) != c.certNo {
		face = citizens.FaceMismatch // someone else's face
	}
	switch {
	case action == phone.Fail || face == citizens.FaceMismatch:
		c.state, c.failReason = certFailed, reasonMismatch
	case face == citizens.FaceLiveness:
		c.state, c.failReason = certFailed, reasonLiveness
	default:
		c.state = certPassed
	}
	s.log.Info("alipay: certify finished", "app_id", c.appID, "result", c.state)
	msg := "认证通过"
	if c.state == certFailed {
		msg = "认证未通过：" + c.failReason
	}
	return phone.Outcome{Redirect: c.returnURL, Message: msg}, nil
}

// alnum reports whether s is 1..max ASCII letters and digits.
func alnum(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// webURL reports whether s is an absolute http(s) URL.
func webURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// maskName keeps the first character of a name: 张** .
func maskName(name string) string {
	r := []rune(name)
	if len(r) == 0 {
		return ""
	}
	return string(r[0]) + strings.Repeat("*", len(r)-1)
}
