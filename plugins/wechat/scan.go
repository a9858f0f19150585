package wechat

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk"
)

// Long-poll states (window.wx_errcode), as the website-login page sees
// them (vendor-protocols §1.4, community-documented).
const (
	lpWaiting   = 408
	lpScanned   = 404
	lpConfirmed = 405
	lpCancelled = 403
	lpExpired   = 402
	// lpUnknown answers a uuid WeChat does not know. Sandbox-defined: the
	// real answer is not documented.
	lpUnknown = 400
)

// pollGrace is how long after a handle's expiry PollScan still asks
// WeChat, so that a login confirmed at the last second is not lost.
const pollGrace = 2 * time.Minute

// maxState is WeChat's limit on state ("最多128字节").
const maxState = 128

// BeginScan starts a website QR login: it fetches the connect/qrconnect
// page server-side, as the browser would, and takes WeChat's QR uuid from
// the page's QR image. The handle it returns seals that uuid, the state
// and the expiry; the QR encodes the page a phone opens for the uuid,
// {open_base}/connect/confirm?uuid=….
func (p *Provider) BeginScan(ctx context.Context, req sdk.BeginScanRequest) (sdk.ScanSession, error) {
	st, err := p.state()
	if err != nil {
		return sdk.ScanSession{}, err
	}
	var bad []string
	if cb, err := url.Parse(req.CallbackURL); err != nil || (cb.Scheme != "https" && cb.Scheme != "http") || cb.Host == "" || len(req.CallbackURL) > 1024 {
		bad = append(bad, "callback_url")
	}
	if len(req.State) > maxState {
		bad = append(bad, "state")
	}
	if len(bad) > 0 {
		return sdk.ScanSession{}, sdk.Fields(sdk.InvalidRequest, "wechat: begin scan: invalid request", bad...)
	}
	q := url.Values{
		"appid":         {st.cfg.appID},
		"redirect_uri":  {req.CallbackURL},
		"response_type": {"code"},
		"scope":         {"snsapi_login"},
	}
	if req.State != "" {
		q.Set("state", req.State)
	}
	page, err := st.fetch(ctx, http.MethodGet, st.cfg.openBase+"/connect/qrconnect?"+q.Encode(), nil, "begin scan")
	if err != nil {
		return sdk.ScanSession{}, err
	}
	uuid, perr := parseQRConnectPage(page)
	if perr != nil {
		return sdk.ScanSession{}, perr
	}
	expires := time.Unix(st.now().Add(st.cfg.qrTTL).Unix(), 0)
	h, err := st.handles.Seal(handleScan, st.cfg.appID, scanHandle{UUID: uuid, State: req.State, Expires: expires.Unix()})
	if err != nil {
		return sdk.ScanSession{}, fmt.Errorf("wechat: begin scan: %w", err)
	}
	st.log.InfoContext(ctx, "wechat: qr session started", "app_id", st.cfg.appID)
	return sdk.ScanSession{UUID: h, QRContent: st.confirmURL(uuid), ExpiresAt: expires}, nil
}

// confirmURL is what the login QR code encodes: the page a phone opens
// for the uuid (sandbox README; the real page shows the image of
// {open_base}/connect/qrcode/{uuid}, which encodes this address).
func (st *state) confirmURL(uuid string) string {
	return st.cfg.openBase + "/connect/confirm?uuid=" + url.QueryEscape(uuid)
}

// openScan opens a QR-session handle.
func (st *state) openScan(handle, step string) (scanHandle, error) {
	var h scanHandle
	if !st.handles.Open(handleScan, st.cfg.appID, handle, &h) || h.UUID == "" {
		return scanHandle{}, sdk.E(sdk.UUIDInvalid, "wechat: "+step+": not a QR session of this app")
	}
	return h, nil
}

// PollScan asks WeChat's long-poll host where the session stands. It
// does not send last, so WeChat answers at once.
func (p *Provider) PollScan(ctx context.Context, uuid string) (sdk.ScanStatus, error) {
	st, err := p.state()
	if err != nil {
		return sdk.ScanStatus{}, err
	}
	h, err := st.openScan(uuid, "poll scan")
	if err != nil {
		return sdk.ScanStatus{}, err
	}
	now := st.now()
	if now.After(h.expires().Add(pollGrace)) {
		return sdk.ScanStatus{State: sdk.ScanExpired}, nil
	}
	q := url.Values{"uuid": {h.UUID}, "_": {strconv.FormatInt(now.UnixMilli(), 10)}}
	body, err := st.fetch(ctx, http.MethodGet, st.cfg.lpBase+"/connect/l/qrconnect?"+q.Encode(), nil, "poll scan")
	if err != nil {
		return sdk.ScanStatus{}, err
	}
	errcode, code, ok := parseLongPoll(body)
	if !ok {
		return sdk.ScanStatus{}, sdk.Vendor(sdk.VendorUnavailable, httpCode(http.StatusOK), "wechat: poll scan: answer is not the long-poll script")
	}
	switch errcode {
	case lpWaiting:
		return sdk.ScanStatus{State: sdk.ScanWaiting}, nil
	case lpScanned:
		return sdk.ScanStatus{State: sdk.ScanScanned}, nil
	case lpConfirmed:
		if !codeRE.MatchString(code) {
			return sdk.ScanStatus{}, sdk.Vendor(sdk.VendorUnavailable, strconv.Itoa(errcode), "wechat: poll scan: confirmed without a code")
		}
		return sdk.ScanStatus{State: sdk.ScanConfirmed, Code: code}, nil
	case lpCancelled:
		return sdk.ScanStatus{State: sdk.ScanCancelled}, nil
	case lpExpired:
		return sdk.ScanStatus{State: sdk.ScanExpired}, nil
	}
	return sdk.ScanStatus{}, st.apiError(epLongPoll, errcode, "poll scan")
}

// ScanCallback interprets WeChat's redirect to the callback URL:
// ?code=CODE&state=STATE when the user confirmed; without code (older
// WeChat: ?state=STATE) when the user refused. The state must be the one
// given to BeginScan.
func (p *Provider) ScanCallback(ctx context.Context, uuid string, query map[string]string) (sdk.ScanStatus, error) {
	st, err := p.state()
	if err != nil {
		return sdk.ScanStatus{}, err
	}
	h, err := st.openScan(uuid, "scan callback")
	if err != nil {
		return sdk.ScanStatus{}, err
	}
	if query["state"] != h.State {
		return sdk.ScanStatus{}, sdk.Fields(sdk.InvalidRequest, "wechat: scan callback: state does not match the session", "state")
	}
	code, ok := query["code"]
	if !ok || code == "" {
		return sdk.ScanStatus{State: sdk.ScanCancelled}, nil
	}
	if !codeRE.MatchString(code) {
		return sdk.ScanStatus{}, sdk.Fields(sdk.InvalidRequest, "wechat: scan callback: malformed code", "code")
	}
	return sdk.ScanStatus{State: sdk.ScanConfirmed, Code: code}, nil
}

// codeRE is what an OAuth code may look like (WeChat's are 32
// characters of [0-9A-Za-z]; a little latitude costs nothing).
var codeRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

// oauthToken answers sns/oauth2/access_token.
type oauthToken struct {
	apiStatus
	AccessToken  string `json:"access_token"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	OpenID       string `json:"openid"`
	Scope        string `json:"scope"`
	UnionID      string `json:"unionid"`
}

// userInfo answers sns/userinfo.
type userInfo struct {
	apiStatus
	OpenID     string `json:"openid"`
	Nickname   string `json:"nickname"`
	Sex        int    `json:"sex"`
	Province   string `json:"province"`
	City       string `json:"city"`
	Country    string `json:"country"`
	HeadImgURL string `json:"headimgurl"`
	UnionID    string `json:"unionid"`
}

// ExchangeCode redeems a login code (sns/oauth2/access_token) and reads
// the profile (sns/userinfo). The subject is the unionid when WeChat
// gives one, else the openid; both are in SubjectIDs. WeChat website
// login does not vouch for a real name, so Level is zero. When the
// profile cannot be read the identity is returned without a display
// name: the code is spent, and the subject is already known.
func (p *Provider) ExchangeCode(ctx context.Context, uuid, code string) (sdk.Identity, error) {
	st, err := p.state()
	if err != nil {
		return sdk.Identity{}, err
	}
	if _, err := st.openScan(uuid, "exchange code"); err != nil {
		return sdk.Identity{}, err
	}
	if code == "" || len(code) > 512 {
		return sdk.Identity{}, sdk.Fields(sdk.InvalidRequest, "wechat: exchange code: code missing or too long", "code")
	}
	q := url.Values{
		"appid":      {st.cfg.appID},
		"secret":     {st.cfg.appSecret},
		"code":       {code},
		"grant_type": {"authorization_code"},
	}
	body, err := st.fetch(ctx, http.MethodGet, st.cfg.apiBase+"/sns/oauth2/access_token?"+q.Encode(), nil, "exchange code")
	if err != nil {
		return sdk.Identity{}, err
	}
	var tok oauthToken
	if err := decodeAPI(body, &tok, "exchange code"); err != nil {
		return sdk.Identity{}, err
	}
	if tok.ErrCode != 0 {
		return sdk.Identity{}, st.apiError(epOAuthToken, tok.ErrCode, "exchange code")
	}
	if tok.OpenID == "" || tok.AccessToken == "" {
		return sdk.Identity{}, sdk.Vendor(sdk.VendorUnavailable, httpCode(http.StatusOK), "wechat: exchange code: answer lacks openid or access_token")
	}
	openID, unionID := tok.OpenID, tok.UnionID
	var nickname string
	info, err := st.userInfo(ctx, tok.AccessToken, tok.OpenID)
	switch {
	case err != nil:
		st.log.WarnContext(ctx, "wechat: profile not read; identity without display name",
			"kind", sdk.KindOf(err).String(), "vendor_code", sdk.VendorCodeOf(err))
	case info.OpenID != "" && info.OpenID != openID:
		st.log.WarnContext(ctx, "wechat: profile of another openid ignored")
	default:
		nickname = strings.TrimSpace(info.Nickname)
		if unionID == "" {
			unionID = info.UnionID
		}
	}
	id := sdk.Identity{Subject: openID, SubjectIDs: map[string]string{"openid": openID}, DisplayName: nickname}
	if unionID != "" {
		id.Subject = unionID
		id.SubjectIDs["unionid"] = unionID
	}
	st.log.InfoContext(ctx, "wechat: login code exchanged", "app_id", st.cfg.appID, "unionid", unionID != "")
	return id, nil
}

func (st *state) userInfo(ctx context.Context, accessToken, openID string) (userInfo, error) {
	q := url.Values{"access_token": {accessToken}, "openid": {openID}, "lang": {"zh_CN"}}
	body, err := st.fetch(ctx, http.MethodGet, st.cfg.apiBase+"/sns/userinfo?"+q.Encode(), nil, "user info")
	if err != nil {
		return userInfo{}, err
	}
	var info userInfo
	if err := decodeAPI(body, &info, "user info"); err != nil {
		return userInfo{}, err
	}
	if info.ErrCode != 0 {
		return userInfo{}, st.apiError(epUserInfo, info.ErrCode, "user info")
	}
	return info, nil
}

// lpRE is the whole long-poll answer:
// window.wx_errcode=405;window.wx_code='CODE';
var lpRE = regexp.MustCompile(`^\s*window\.wx_errcode\s*=\s*(-?[0-9]{1,9})\s*;\s*(?:window\.wx_code\s*=\s*'([^'\\\r\n]*)'\s*;?\s*)?$`)

// parseLongPoll reads wx_errcode and wx_code from the long-poll script;
// ok is false for anything else.
func parseLongPoll(body []byte) (errcode int, code string, ok bool) {
	m := lpRE.FindSubmatch(body)
	if m == nil {
		return 0, "", false
	}
	n, err := strconv.Atoi(string(m[1]))
	if err != nil {
		return 0, "", false
	}
	return n, string(m[2]), true
}

var (
	imgRE  = regexp.MustCompile(`(?is)<img\b[^>]*>`)
	attrRE = regexp.MustCompile(`(?s)([A-Za-z_:][-A-Za-z0-9_:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>` + "`" + `]+))`)
	uuidRE = regexp.MustCompile(`^[A-Za-z0-9_=+-]{1,128}$`)
)

// qrImagePath is the path of WeChat's QR image, followed by the uuid.
const qrImagePath = "/connect/qrcode/"

// parseQRConnectPage takes the QR uuid from the connect/qrconnect page:
// the src of <img class="qrcode lightBorder js_qrcode_img"
// src="/connect/qrcode/{uuid}">, relative on the real page, absolute in
// the sandbox. A page without it is one of WeChat's error pages.
func parseQRConnectPage(page []byte) (string, *sdk.Error) {
	for _, tag := range imgRE.FindAll(page, -1) {
		attrs := map[string]string{}
		for _, a := range attrRE.FindAllSubmatch(tag[len("<img"):], -1) {
			name := strings.ToLower(string(a[1]))
			if _, dup := attrs[name]; !dup {
				attrs[name] = html.UnescapeString(string(a[2]) + string(a[3]) + string(a[4]))
			}
		}
		if !hasClass(attrs["class"], "js_qrcode_img") {
			continue
		}
		u, err := url.Parse(strings.TrimSpace(attrs["src"]))
		if err != nil {
			break
		}
		i := strings.LastIndex(u.Path, qrImagePath)
		if i < 0 {
			break
		}
		if uuid := u.Path[i+len(qrImagePath):]; uuidRE.MatchString(uuid) {
			return uuid, nil
		}
		break
	}
	return "", qrconnectPageError(page)
}

func hasClass(class, name string) bool {
	for _, c := range strings.Fields(class) {
		if c == name {
			return true
		}
	}
	return false
}

// qrconnectPageError classifies a page without a QR code by WeChat's
// error texts (HTTP 200 pages).
func qrconnectPageError(page []byte) *sdk.Error {
	lower := bytes.ToLower(page)
	switch {
	case bytes.Contains(lower, []byte("appid 参数错误")):
		return &sdk.Error{Kind: sdk.InvalidConfig, VendorCode: "appid", Fields: []string{"app_id"},
			Message: "wechat: begin scan: WeChat refused the app id"}
	case bytes.Contains(lower, []byte("redirect_uri 参数错误")):
		return sdk.Vendor(sdk.InvalidConfig, "redirect_uri",
			"wechat: begin scan: WeChat refused the callback URL; register the gateway's domain for the app")
	case bytes.Contains(lower, []byte("scope 参数错误")):
		return sdk.Vendor(sdk.InvalidConfig, "scope", "wechat: begin scan: the app may not use snsapi_login")
	}
	return sdk.Vendor(sdk.VendorUnavailable, httpCode(http.StatusOK), "wechat: begin scan: page without a QR code")
}
