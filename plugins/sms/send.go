package sms

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

// The constants of Alibaba Cloud's SendSms (RPC style, signature 1.0).
const (
	apiVersion       = "2017-05-25"
	signatureMethod  = "HMAC-SHA1"
	signatureVersion = "1.0"
	timestampLayout  = "2006-01-02T15:04:05Z"
	codeDigits       = 6
)

// maxBody bounds what is read of an answer.
const maxBody = 64 << 10

var purposeRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

// SendCode sends a fresh six-digit code to phone with SendSms and returns
// the ticket that VerifyCode checks it against. The template gets the
// variables code and minutes (code_ttl, rounded up).
func (p *Provider) SendCode(ctx context.Context, phone, purpose string) (sdk.CodeTicket, error) {
	st, err := p.state()
	if err != nil {
		return sdk.CodeTicket{}, err
	}
	number, perr := cnid.ParsePhone(phone)
	var bad []string
	if perr != nil {
		bad = append(bad, "phone")
	}
	if !purposeRE.MatchString(purpose) {
		bad = append(bad, "purpose")
	}
	if len(bad) > 0 {
		return sdk.CodeTicket{}, sdk.Fields(sdk.InvalidRequest, "sms: send code: invalid request", bad...)
	}
	code, err := newCode()
	if err != nil {
		return sdk.CodeTicket{}, err
	}
	now := st.now()
	expires := time.Unix(now.Add(st.cfg.codeTTL).Unix(), 0)
	sealed, err := st.tickets.seal(ticket{Phone: number, Purpose: purpose, CodeMAC: st.tickets.codeMAC(code), Expires: expires.Unix()})
	if err != nil {
		return sdk.CodeTicket{}, err
	}
	vars := map[string]string{"code": code, "minutes": strconv.Itoa(minutes(st.cfg.codeTTL))}
	res, err := st.sendSMS(ctx, number, message{what: "send code", template: st.cfg.templateCode, templateField: "template_code", vars: vars}, now)
	if err != nil {
		st.log.WarnContext(ctx, "sms: code not sent", "phone", cnid.MaskPhone(number), "purpose", purpose,
			"kind", sdk.KindOf(err).String(), "vendor_code", sdk.VendorCodeOf(err))
		return sdk.CodeTicket{}, err
	}
	st.log.InfoContext(ctx, "sms: code sent", "phone", cnid.MaskPhone(number), "purpose", purpose,
		"biz_id", res.BizID, "out_id", res.outID, "request_id", res.RequestID)
	return sdk.CodeTicket{Ticket: sealed, ExpiresAt: expires}, nil
}

// sendAnswer is SendSms's answer, and the shape of every error of
// Alibaba Cloud's RPC gateway (which adds HostId and Recommend).
type sendAnswer struct {
	RequestID string `json:"RequestId"`
	BizID     string `json:"BizId"`
	Code      string `json:"Code"`
	Message   string `json:"Message"`
	outID     string
}

// message is what one SendSms call sends: a template and its variables.
type message struct {
	// what names the call in error messages ("send code").
	what     string
	template string
	// templateField is the configuration field that names the template,
	// blamed when Alibaba Cloud refuses the template or its variables.
	templateField string
	vars          map[string]string
}

// sendSMS makes the signed SendSms call.
func (st *state) sendSMS(ctx context.Context, phone string, m message, now time.Time) (sendAnswer, error) {
	params, outID, err := st.sendParams(phone, m, now)
	if err != nil {
		return sendAnswer{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, st.cfg.apiBase+"/", strings.NewReader(params.Encode()))
	if err != nil {
		return sendAnswer{}, &sdk.Error{Kind: sdk.Internal, Message: "sms: " + m.what + ": build request", Err: stripURL(err)}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "shiming-sms/"+Version)
	resp, err := st.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return sendAnswer{}, fmt.Errorf("sms: %s: %w", m.what, ctx.Err())
		}
		return sendAnswer{}, &sdk.Error{Kind: sdk.VendorUnavailable, Message: "sms: " + m.what + ": vendor unreachable", Err: stripURL(err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		if ctx.Err() != nil {
			return sendAnswer{}, fmt.Errorf("sms: %s: %w", m.what, ctx.Err())
		}
		return sendAnswer{}, &sdk.Error{Kind: sdk.VendorUnavailable, VendorCode: httpCode(resp.StatusCode),
			Message: "sms: " + m.what + ": answer cut short", Err: stripURL(err)}
	}
	ans, err := parseAnswer(resp.StatusCode, body, m)
	if err != nil {
		return sendAnswer{}, err
	}
	ans.outID = outID
	return ans, nil
}

// sendParams are SendSms's parameters, signed.
func (st *state) sendParams(phone string, m message, now time.Time) (url.Values, string, error) {
	outID, err := randomHex(16)
	if err != nil {
		return nil, "", err
	}
	nonce, err := randomHex(16)
	if err != nil {
		return nil, "", err
	}
	tpl, err := json.Marshal(m.vars) // keys sorted
	if err != nil {
		return nil, "", &sdk.Error{Kind: sdk.Internal, Message: "sms: template parameters", Err: err}
	}
	params := url.Values{
		"AccessKeyId":      {st.cfg.accessKeyID},
		"Action":           {"SendSms"},
		"Format":           {"JSON"},
		"OutId":            {outID},
		"PhoneNumbers":     {phone},
		"SignName":         {st.cfg.signName},
		"SignatureMethod":  {signatureMethod},
		"SignatureNonce":   {nonce},
		"SignatureVersion": {signatureVersion},
		"TemplateCode":     {m.template},
		"TemplateParam":    {string(tpl)},
		"Timestamp":        {now.UTC().Format(timestampLayout)},
		"Version":          {apiVersion},
	}
	params.Set("Signature", sign(http.MethodPost, params, st.cfg.accessKeySecret))
	return params, outID, nil
}

// minutes is a lifetime in whole minutes, rounded up.
func minutes(d time.Duration) int {
	return int((d + time.Minute - 1) / time.Minute)
}

// parseAnswer reads SendSms's answer to m: Code "OK" on HTTP 200 is
// success; any other code is classified; a body that is not a JSON object
// with a Code is VendorUnavailable with the HTTP status as vendor code.
func parseAnswer(status int, body []byte, m message) (sendAnswer, error) {
	var ans sendAnswer
	dec := json.NewDecoder(bytes.NewReader(body))
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(body) > maxBody || len(trimmed) == 0 || trimmed[0] != '{' || dec.Decode(&ans) != nil || dec.More() || ans.Code == "" {
		return sendAnswer{}, sdk.Vendor(sdk.VendorUnavailable, httpCode(status), "sms: "+m.what+": answer is not Alibaba Cloud's JSON")
	}
	if ans.Code == "OK" && status == http.StatusOK {
		return ans, nil
	}
	kind, field, msg := classify(ans.Code, status, m.templateField)
	e := &sdk.Error{Kind: kind, VendorCode: ans.Code, Message: "sms: " + m.what + ": " + msg}
	if field != "" {
		e.Fields = []string{field}
	}
	return sendAnswer{}, e
}

// classify maps an Alibaba Cloud error code (documented business codes
// answered with HTTP 200, gateway codes with 4xx) to a kind and the
// configuration or request field at fault; templateField is the field
// that names the template of the call.
func classify(code string, status int, templateField string) (sdk.Kind, string, string) {
	switch code {
	case "isv.BUSINESS_LIMIT_CONTROL", "isv.DAY_LIMIT_CONTROL":
		return sdk.RateLimited, "", "flow control"
	case "isv.MOBILE_NUMBER_ILLEGAL", "isv.MOBILE_COUNT_OVER_LIMIT":
		return sdk.InvalidRequest, "phone", "phone number refused"
	case "isv.SMS_SIGNATURE_ILLEGAL":
		return sdk.InvalidConfig, "sign_name", "signature name not approved for the key"
	case "isv.SMS_TEMPLATE_ILLEGAL", "isv.TEMPLATE_MISSING_PARAMETERS", "isv.INVALID_JSON_PARAM":
		return sdk.InvalidConfig, templateField, "template unknown or its variables refused"
	case "InvalidAccessKeyId.NotFound", "InvalidAccessKeyId.Inactive":
		return sdk.InvalidConfig, "access_key_id", "access key refused"
	case "SignatureDoesNotMatch", "IncompleteSignature":
		return sdk.InvalidConfig, "access_key_secret", "signature refused"
	case "InvalidSignatureMethod", "InvalidSignatureVersion":
		return sdk.InvalidConfig, "", "signature method refused"
	case "InvalidAction.NotFound":
		return sdk.InvalidConfig, "api_base", "no such action: check api_base"
	}
	switch {
	case strings.HasPrefix(code, "Throttling"):
		return sdk.RateLimited, "", "throttled"
	case strings.HasPrefix(code, "Forbidden"):
		return sdk.InvalidConfig, "access_key_id", "the key may not send SMS"
	case status >= 500:
		return sdk.VendorUnavailable, "", "vendor error (HTTP " + strconv.Itoa(status) + ")"
	}
	return sdk.VendorUnavailable, "", "vendor refused the message"
}

func httpCode(status int) string { return "http_" + strconv.Itoa(status) }

func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// newCode returns six uniformly random digits.
func newCode() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", &sdk.Error{Kind: sdk.Internal, Message: "sms: make code", Err: err}
	}
	return fmt.Sprintf("%0*d", codeDigits, n.Int64()), nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", &sdk.Error{Kind: sdk.Internal, Message: "sms: random", Err: err}
	}
	return hex.EncodeToString(b), nil
}
