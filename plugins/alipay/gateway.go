package alipay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk"
)

// Methods the plugin calls.
const (
	methodOAuthToken   = "alipay.system.oauth.token"
	methodUserInfo     = "alipay.user.info.share"
	methodCertifyInit  = "alipay.user.certify.open.initialize"
	methodCertify      = "alipay.user.certify.open.certify"
	methodCertifyQuery = "alipay.user.certify.open.query"
)

const (
	codeSuccess   = "10000"
	maxResponse   = 1 << 20
	timeFormat    = "2006-01-02 15:04:05"
	contentType   = "application/x-www-form-urlencoded;charset=utf-8"
	vendorCodeBad = "unverified_response"
)

// beijing is China Standard Time: the gateway reads timestamp in it
// whatever the machine's zone.
var beijing = time.FixedZone("CST", 8*60*60)

// signedValues returns the common parameters of a call (or of the certify
// URL), the top-level parameters, biz_content and the sign.
func signedValues(c *config, now time.Time, method string, top map[string]string, biz any) (url.Values, error) {
	v := url.Values{}
	v.Set("app_id", c.appID)
	v.Set("method", method)
	v.Set("format", "JSON")
	v.Set("charset", "utf-8")
	v.Set("sign_type", "RSA2")
	v.Set("timestamp", now.In(beijing).Format(timeFormat))
	v.Set("version", "1.0")
	if biz != nil {
		b, err := json.Marshal(biz)
		if err != nil {
			return nil, fmt.Errorf("alipay: encode biz_content: %w", err)
		}
		v.Set("biz_content", string(b))
	}
	for k, val := range top {
		if val != "" {
			v.Set(k, val)
		}
	}
	sign, err := signRSA2(c.appKey, []byte(signatureBase(v)))
	if err != nil {
		return nil, err
	}
	v.Set("sign", sign)
	return v, nil
}

// call sends one signed request to the gateway, verifies the answer and
// decodes the node into out. A refusal comes back as an *sdk.Error
// carrying the sub_code (or code) as vendor code.
func (p *Provider) call(ctx context.Context, c *configured, method string, top map[string]string, biz, out any) error {
	values, err := signedValues(c.config, p.now(), method, top, biz)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.gatewayURL, strings.NewReader(values.Encode()))
	if err != nil {
		return fmt.Errorf("alipay: %s: %w", method, err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("alipay: %s: %w", method, ctx.Err())
		}
		return &sdk.Error{Kind: sdk.VendorUnavailable, Message: "alipay: " + method + ": gateway unreachable", Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("alipay: %s: %w", method, ctx.Err())
		}
		return &sdk.Error{Kind: sdk.VendorUnavailable, Message: "alipay: " + method + ": reading the answer", Err: err}
	}
	status := strconv.Itoa(resp.StatusCode)
	if resp.StatusCode != http.StatusOK || len(body) > maxResponse {
		p.log.Warn("alipay: gateway answered HTTP error", "method", method, "http_status", resp.StatusCode, "bytes", len(body))
		return sdk.Vendor(sdk.VendorUnavailable, status, "alipay: "+method+": HTTP "+status)
	}
	r, err := parseResponse(body, method, c.alipayKey)
	switch {
	case errors.Is(err, errMalformed):
		p.log.Warn("alipay: gateway answer is not JSON of the expected shape", "method", method, "bytes", len(body))
		return sdk.Vendor(sdk.VendorUnavailable, status, "alipay: "+method+": malformed answer")
	case err != nil:
		// Never trusted: the head is logged as claimed, for diagnosis. An
		// unknown app_id is answered unsigned by the real gateway.
		p.log.Error("alipay: refusing an answer whose signature does not verify; check alipay_public_key and app_id",
			"method", method, "problem", err.Error(), "claimed_code", r.head.Code, "claimed_sub_code", r.head.SubCode)
		return &sdk.Error{Kind: sdk.VendorUnavailable, VendorCode: vendorCodeBad, Message: "alipay: " + method + ": answer not signed by Alipay", Err: err}
	}
	if !succeeded(method, r) {
		k := kindFor(r.head)
		vc := r.head.SubCode
		if vc == "" {
			vc = r.head.Code
		}
		p.log.LogAttrs(ctx, levelFor(k), "alipay: gateway refused the call", slog.String("method", method),
			slog.String("code", r.head.Code), slog.String("sub_code", r.head.SubCode), slog.String("kind", k.String()))
		return sdk.Vendor(k, vc, "alipay: "+method+": "+r.head.Code+" "+r.head.SubCode)
	}
	if err := json.Unmarshal(r.node, out); err != nil {
		p.log.Warn("alipay: gateway node does not decode", "method", method)
		return &sdk.Error{Kind: sdk.VendorUnavailable, VendorCode: status, Message: "alipay: " + method + ": malformed node", Err: err}
	}
	return nil
}

// succeeded reports whether a verified answer is a success: code 10000 in
// the method's node, or, for alipay.system.oauth.token, whose success node
// has no code or msg, a method node without a code.
func succeeded(method string, r response) bool {
	if r.member != nodeName(method) {
		return false
	}
	return r.head.Code == codeSuccess || (method == methodOAuthToken && r.head.Code == "" && r.head.SubCode == "")
}

// kindFor maps a gateway refusal to a kind. Sub-codes come first; the
// gateway code decides the rest.
func kindFor(h nodeHead) sdk.Kind {
	switch h.SubCode {
	case "isv.code-invalid":
		// The gateway says the same for a used, an expired and an unknown
		// code. The gateway host only exchanges codes Alipay delivered to
		// its callback, so one that is not valid was used already (a
		// second exchange of the same callback) or ran out of time.
		return sdk.CodeReused
	case "aop.auth-token-time-out":
		return sdk.Expired
	case "aop.invalid-auth-token":
		return sdk.CodeInvalid
	case "NAME_CERT_NO_NOT_MATCH":
		return sdk.NameIDMismatch
	case "INVALID_CERT_NO", "OPEN_CERTIFY_BILL_NOT_EXIST", "isv.insufficient-user-permissions":
		return sdk.InvalidRequest
	case "OPEN_CERTIFY_BILL_EXPIRED":
		return sdk.Expired
	case "OUTER_ORDER_NO_DUPLICATE", "isv.invalid-timestamp", "isv.invalid-charset", "isv.invalid-format", "isv.invalid-method":
		return sdk.Internal
	case "isv.app-call-limited", "isv.method-call-limited", "BUSINESS_LIMIT_CONTROL", "isp.app-call-limited":
		return sdk.RateLimited
	case "isv.invalid-app-id", "isv.missing-app-id", "isv.invalid-signature", "isv.invalid-signature-type",
		"isv.insufficient-isv-permissions", "aop.invalid-app-auth-token", "isv.decryption-error-not-valid-encrypt-key":
		return sdk.InvalidConfig
	}
	switch {
	case strings.HasPrefix(h.SubCode, "isp.") || strings.HasPrefix(h.SubCode, "aop.unknow") || h.Code == "20000":
		return sdk.VendorUnavailable
	case h.Code == "40005" || strings.HasSuffix(h.SubCode, "-call-limited"):
		return sdk.RateLimited
	case h.Code == "40006":
		return sdk.InvalidConfig
	case h.Code == "40001":
		return sdk.Internal
	case h.Code == "40002":
		return sdk.InvalidRequest
	case h.Code == "20001":
		return sdk.CodeInvalid
	}
	return sdk.VendorUnavailable
}

// levelFor logs what needs an operator at warn, a person's doing at info.
func levelFor(k sdk.Kind) slog.Level {
	switch k {
	case sdk.CodeReused, sdk.CodeInvalid, sdk.Expired, sdk.NameIDMismatch, sdk.InvalidRequest:
		return slog.LevelInfo
	}
	return slog.LevelWarn
}
