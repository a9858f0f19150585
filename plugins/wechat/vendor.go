package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/shiming-id/shiming/plugins/sdk"
)

// maxBody bounds what is read of any WeChat answer.
const maxBody = 1 << 20

// userAgent names the plugin to WeChat.
const userAgent = "shiming-wechat/" + Version

// fetch sends a request to WeChat and returns the body of its 200 answer.
// Transport failures, timeouts, other statuses and oversized bodies are
// VendorUnavailable (the status is the vendor code); a cancelled ctx is
// returned as the ctx error. Errors never carry the URL, whose query holds
// secrets and tokens.
func (st *state) fetch(ctx context.Context, method, u string, body []byte, step string) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, &sdk.Error{Kind: sdk.Internal, Message: "wechat: " + step + ": build request", Err: stripURL(err)}
	}
	req.Header.Set("User-Agent", userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	resp, err := st.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("wechat: %s: %w", step, ctx.Err())
		}
		return nil, &sdk.Error{Kind: sdk.VendorUnavailable, Message: "wechat: " + step + ": WeChat unreachable", Err: stripURL(err)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, fmt.Errorf("wechat: %s: %w", step, ctx.Err())
	case err != nil:
		return nil, &sdk.Error{Kind: sdk.VendorUnavailable, VendorCode: httpCode(resp.StatusCode),
			Message: "wechat: " + step + ": answer cut short", Err: stripURL(err)}
	case len(b) > maxBody:
		return nil, sdk.Vendor(sdk.VendorUnavailable, httpCode(resp.StatusCode), "wechat: "+step+": answer too large")
	case resp.StatusCode != http.StatusOK:
		return nil, sdk.Vendor(sdk.VendorUnavailable, httpCode(resp.StatusCode), "wechat: "+step+": HTTP status "+strconv.Itoa(resp.StatusCode))
	}
	return b, nil
}

// httpCode is the vendor code of an answer WeChat's API would never give.
func httpCode(status int) string { return "http_" + strconv.Itoa(status) }

func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// apiStatus is the error part of every WeChat API answer. errmsg is never
// compared: it ends in a request id (", rid: …").
type apiStatus struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

func (s apiStatus) code() int { return s.ErrCode }

type coded interface{ code() int }

// decodeAPI parses a WeChat API answer into v. A body that is not a JSON
// object (an HTML error page, a proxy's text) is VendorUnavailable.
func decodeAPI(b []byte, v coded, step string) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil || dec.More() || !isObject(b) {
		return sdk.Vendor(sdk.VendorUnavailable, httpCode(http.StatusOK), "wechat: "+step+": answer is not a JSON object")
	}
	return nil
}

func isObject(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

// endpoint names a WeChat API whose errcodes mean different things.
type endpoint int

const (
	epOAuthToken      endpoint = iota // sns/oauth2/access_token
	epUserInfo                        // sns/userinfo
	epServerToken                     // cgi-bin/token
	epGetVerifyID                     // cityservice/face/identify/getverifyid
	epQueryVerifyInfo                 // cityservice/face/identify/queryverifyinfo
	epLongPoll                        // lp.open.weixin.qq.com/connect/l/qrconnect
)

// apiError classifies a nonzero errcode of an endpoint. The fields named
// for credentials are those of the app the endpoint is called for.
func (st *state) apiError(ep endpoint, errcode int, step string) *sdk.Error {
	idField, secretField := "app_id", "app_secret"
	if (ep == epServerToken || ep == epGetVerifyID || ep == epQueryVerifyInfo) && st.cfg.mpAppID != "" {
		idField, secretField = "mp_app_id", "mp_app_secret"
	}
	kind, msg, fields := classify(ep, errcode, idField, secretField)
	return &sdk.Error{Kind: kind, VendorCode: strconv.Itoa(errcode), Fields: fields, Message: "wechat: " + step + ": " + msg}
}

// classify is the errcode table. Codes an endpoint gives its own meaning
// come first; then the codes every endpoint shares; anything else is
// VendorUnavailable with the code kept for the logs.
func classify(ep endpoint, errcode int, idField, secretField string) (sdk.Kind, string, []string) {
	switch ep {
	case epOAuthToken:
		switch errcode {
		case 40163:
			return sdk.CodeReused, "code already used", nil
		case 40029:
			return sdk.CodeInvalid, "code invalid", nil
		case 42003:
			return sdk.Expired, "code expired", nil
		case 41008:
			return sdk.InvalidRequest, "code missing", []string{"code"}
		case 40001:
			return sdk.InvalidConfig, "credentials refused", []string{secretField}
		case 40002:
			return sdk.Internal, "grant_type refused", nil
		}
	case epUserInfo:
		switch errcode {
		case 40001, 42001, 41001, 40003, 41009:
			return sdk.VendorUnavailable, "fresh access token refused", nil
		}
	case epServerToken:
		switch errcode {
		case 40001:
			return sdk.InvalidConfig, "secret refused", []string{secretField}
		case 40002:
			return sdk.Internal, "grant_type refused", nil
		}
	case epGetVerifyID, epQueryVerifyInfo:
		switch errcode {
		case 40001, 42001, 41001:
			return sdk.VendorUnavailable, "server access token refused", nil
		case 47001, 43002:
			return sdk.Internal, "request refused as malformed", nil
		}
		if ep == epGetVerifyID {
			switch errcode {
			case 41009, 40003:
				return sdk.InvalidRequest, "openid missing or not issued to this app", []string{"subject"}
			case 40097:
				return sdk.InvalidRequest, "arguments refused", nil
			}
		} else if errcode == 40097 {
			return sdk.UUIDInvalid, "verification unknown to WeChat", nil
		}
	case epLongPoll:
		if errcode == lpUnknown {
			return sdk.UUIDInvalid, "QR session unknown to WeChat", nil
		}
	}
	switch errcode {
	case -1:
		return sdk.VendorUnavailable, "system busy", nil
	case 45009, 45011:
		return sdk.RateLimited, "API quota reached", nil
	case 40013, 41002:
		return sdk.InvalidConfig, "app id refused", []string{idField}
	case 40125, 41004:
		return sdk.InvalidConfig, "app secret refused", []string{secretField}
	case 40164:
		return sdk.InvalidConfig, "caller IP not in the app's allow list", nil
	case 40066:
		return sdk.InvalidConfig, "invalid url: check api_base", []string{"api_base"}
	case 48001:
		return sdk.InvalidConfig, "API not authorised for the app", nil
	}
	return sdk.VendorUnavailable, "unexpected errcode", nil
}
