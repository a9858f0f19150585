package alipay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
	"github.com/shiming-id/shiming/plugins/sdk/handle"
)

// Version is the version the plugin reports in Info.
const Version = "1.0.0"

// Lifetimes of what the plugin hands out.
const (
	// scanTTL is how long a login QR code is shown: the sandbox's login
	// lives five minutes from the first scan; Alipay does not document it.
	scanTTL = 5 * time.Minute
	// faceTTL is how long the signed certify URL is offered. Its timestamp
	// is checked when the phone opens it (the sandbox allows 15 minutes);
	// the certify_id itself lives about 23 hours.
	faceTTL = 10 * time.Minute
	// maxState bounds the OAuth state echoed through Alipay.
	maxState = 512
	// maxCode bounds an auth_code.
	maxCode = 256
)

// configured is a provider's live configuration.
type configured struct {
	*config
	http    *http.Client
	handles *handle.Sealer
}

// Provider is the Alipay provider. It keeps no session state: handles are
// sealed, certify ids are Alipay's.
type Provider struct {
	log *slog.Logger
	now func() time.Time
	cur atomic.Pointer[configured]
}

// New returns an unconfigured provider logging through sdk.Logger.
func New() *Provider { return newProvider(sdk.Logger(), time.Now) }

func newProvider(log *slog.Logger, now func() time.Time) *Provider {
	return &Provider{log: log, now: now}
}

// Info names the provider and declares scan login and face verification.
func (p *Provider) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{
		Name:            "alipay",
		Version:         Version,
		ProtocolVersion: sdk.ProtocolVersion,
		Capabilities:    []sdk.Capability{sdk.CapabilityScanLogin, sdk.CapabilityFaceVerification},
		Description:     "支付宝：扫码登录（网页授权）与人脸认证（身份验证），OpenAPI v2 gateway.do",
	}, nil
}

// Configure validates the configuration without calling Alipay.
func (p *Provider) Configure(_ context.Context, raw json.RawMessage) error {
	c, err := parseConfig(raw)
	if err != nil {
		return err
	}
	s, err := handle.NewSealer(c.handleKey, handleLabel)
	if err != nil {
		return fmt.Errorf("alipay: configure: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	next := &configured{config: c, handles: s, http: &http.Client{Timeout: c.httpTimeout, Transport: tr}}
	if prev := p.cur.Swap(next); prev != nil {
		prev.http.CloseIdleConnections()
	}
	if len(c.insecure) > 0 {
		p.log.Warn("alipay: plain http to a host other than loopback; use https outside the sandbox", "fields", strings.Join(c.insecure, ","))
	}
	p.log.Info("alipay: configured", "app_id", c.appID, "gateway_url", c.gatewayURL, "openauth_base", c.openAuthBase)
	return nil
}

func (p *Provider) configured() (*configured, error) {
	c := p.cur.Load()
	if c == nil {
		return nil, sdk.E(sdk.InvalidConfig, "alipay: not configured")
	}
	return c, nil
}

// BeginScan builds the authorization URL the phone opens; Alipay is not
// called. The uuid seals the state and the expiry.
func (p *Provider) BeginScan(_ context.Context, req sdk.BeginScanRequest) (sdk.ScanSession, error) {
	c, err := p.configured()
	if err != nil {
		return sdk.ScanSession{}, err
	}
	var bad []string
	if !absoluteURL(req.CallbackURL) {
		bad = append(bad, "callback_url")
	}
	if len(req.State) > maxState || !utf8.ValidString(req.State) {
		bad = append(bad, "state")
	}
	if len(bad) > 0 {
		return sdk.ScanSession{}, sdk.Fields(sdk.InvalidRequest, "alipay: begin scan: callback_url must be an absolute http(s) URL, state at most 512 bytes", bad...)
	}
	exp := p.now().Add(scanTTL)
	uuid, err := c.sealHandle(handleScan, payload{State: req.State, Exp: exp.Unix()})
	if err != nil {
		return sdk.ScanSession{}, err
	}
	qr := c.openAuthBase + "/oauth2/publicAppAuthorize.htm?app_id=" + url.QueryEscape(c.appID) +
		"&scope=auth_user&redirect_uri=" + url.QueryEscape(req.CallbackURL) + "&state=" + url.QueryEscape(req.State)
	return sdk.ScanSession{UUID: uuid, QRContent: qr, ExpiresAt: time.Unix(exp.Unix(), 0)}, nil
}

// scanHandle opens a scan uuid.
func (p *Provider) scanHandle(uuid string) (*configured, payload, error) {
	c, err := p.configured()
	if err != nil {
		return nil, payload{}, err
	}
	h, ok := c.openHandle(handleScan, uuid)
	if !ok {
		return nil, payload{}, sdk.E(sdk.UUIDInvalid, "alipay: unknown, altered or foreign QR session")
	}
	return c, h, nil
}

// PollScan reports WAITING until the session's time is up, then EXPIRED:
// Alipay tells about a scan only through the redirect to the callback
// (ScanCallback), never to a poll.
func (p *Provider) PollScan(ctx context.Context, uuid string) (sdk.ScanStatus, error) {
	_, h, err := p.scanHandle(uuid)
	if err != nil {
		return sdk.ScanStatus{}, err
	}
	if err := ctx.Err(); err != nil {
		return sdk.ScanStatus{}, err
	}
	if !p.now().Before(h.expires()) {
		return sdk.ScanStatus{State: sdk.ScanExpired}, nil
	}
	return sdk.ScanStatus{State: sdk.ScanWaiting}, nil
}

// ScanCallback reads Alipay's redirect: app_id must be this app's and
// state the session's; auth_code confirms, its absence (with
// error=access_denied when the person refused) cancels.
func (p *Provider) ScanCallback(_ context.Context, uuid string, query map[string]string) (sdk.ScanStatus, error) {
	c, h, err := p.scanHandle(uuid)
	if err != nil {
		return sdk.ScanStatus{}, err
	}
	var bad []string
	if query["app_id"] != c.appID {
		bad = append(bad, "app_id")
	}
	if query["state"] != h.State {
		bad = append(bad, "state")
	}
	if len(bad) > 0 {
		return sdk.ScanStatus{}, sdk.Fields(sdk.InvalidRequest, "alipay: callback for another app or session", bad...)
	}
	code := query["auth_code"]
	if query["error"] != "" || code == "" {
		return sdk.ScanStatus{State: sdk.ScanCancelled}, nil
	}
	if len(code) > maxCode || !printable(code) {
		return sdk.ScanStatus{}, sdk.Fields(sdk.InvalidRequest, "alipay: malformed auth_code", "auth_code")
	}
	return sdk.ScanStatus{State: sdk.ScanConfirmed, Code: code}, nil
}

// tokenNode is the success node of alipay.system.oauth.token.
type tokenNode struct {
	UserID      string `json:"user_id"`
	OpenID      string `json:"open_id"`
	AccessToken string `json:"access_token"`
}

// userInfoNode is the success node of alipay.user.info.share.
type userInfoNode struct {
	UserID      string `json:"user_id"`
	OpenID      string `json:"open_id"`
	NickName    string `json:"nick_name"`
	IsCertified string `json:"is_certified"`
	UserName    string `json:"user_name"`
	CertType    string `json:"cert_type"`
	CertNo      string `json:"cert_no"`
	Mobile      string `json:"mobile"`
}

// ExchangeCode turns an auth_code into an identity:
// alipay.system.oauth.token, then alipay.user.info.share.
func (p *Provider) ExchangeCode(ctx context.Context, uuid, code string) (sdk.Identity, error) {
	c, _, err := p.scanHandle(uuid)
	if err != nil {
		return sdk.Identity{}, err
	}
	if code == "" || len(code) > maxCode || !printable(code) {
		return sdk.Identity{}, sdk.Fields(sdk.InvalidRequest, "alipay: malformed auth_code", "code")
	}
	var tok tokenNode
	if err := p.call(ctx, c, methodOAuthToken, map[string]string{"grant_type": "authorization_code", "code": code}, nil, &tok); err != nil {
		return sdk.Identity{}, err
	}
	if tok.AccessToken == "" || (tok.UserID == "" && tok.OpenID == "") {
		return sdk.Identity{}, sdk.Vendor(sdk.VendorUnavailable, "no_token", "alipay: token answer without access_token or user id")
	}
	var info userInfoNode
	if err := p.call(ctx, c, methodUserInfo, map[string]string{"auth_token": tok.AccessToken}, nil, &info); err != nil {
		return sdk.Identity{}, err
	}
	if (info.UserID != "" && tok.UserID != "" && info.UserID != tok.UserID) || (info.OpenID != "" && tok.OpenID != "" && info.OpenID != tok.OpenID) {
		return sdk.Identity{}, sdk.Vendor(sdk.VendorUnavailable, "user_mismatch", "alipay: user info is not the token's user")
	}
	return identityOf(tok, info, p.now()), nil
}

// identityOf builds the identity: user_id before open_id as the subject,
// both kept; the real name and ID number only when Alipay returns them
// (the app's permission) for a certified (is_certified T) identity-card
// holder.
func identityOf(tok tokenNode, info userInfoNode, now time.Time) sdk.Identity {
	id := sdk.Identity{SubjectIDs: map[string]string{}, DisplayName: info.NickName}
	userID, openID := first(info.UserID, tok.UserID), first(info.OpenID, tok.OpenID)
	if userID != "" {
		id.SubjectIDs["user_id"] = userID
	}
	if openID != "" {
		id.SubjectIDs["open_id"] = openID
	}
	id.Subject = first(userID, openID)
	if info.IsCertified == "T" && info.UserName != "" && info.CertNo != "" && (info.CertType == "" || info.CertType == "0") {
		if n, err := cnid.Parse(cnid.Normalize(info.CertNo), now); err == nil {
			id.Name, id.IDNumber, id.Level = strings.TrimSpace(info.UserName), n.String(), sdk.LevelNameID
		}
	}
	if ph, err := cnid.ParsePhone(info.Mobile); err == nil {
		id.Phone = ph
	}
	return id
}

// identityParam and merchantConfig are members of the initialize
// biz_content.
type identityParam struct {
	IdentityType string `json:"identity_type"`
	CertType     string `json:"cert_type"`
	CertName     string `json:"cert_name"`
	CertNo       string `json:"cert_no"`
}

type merchantConfig struct {
	ReturnURL string `json:"return_url"`
}

type initBiz struct {
	OuterOrderNo   string         `json:"outer_order_no"`
	BizCode        string         `json:"biz_code"`
	IdentityParam  identityParam  `json:"identity_param"`
	MerchantConfig merchantConfig `json:"merchant_config"`
}

type certifyBiz struct {
	CertifyID string `json:"certify_id"`
}

// BeginFace starts a face check (biz_code FACE) and returns the signed
// certify URL as the QR content.
func (p *Provider) BeginFace(ctx context.Context, req sdk.FaceRequest) (sdk.FaceSession, error) {
	c, err := p.configured()
	if err != nil {
		return sdk.FaceSession{}, err
	}
	name := strings.TrimSpace(req.Name)
	var bad []string
	if name == "" || utf8.RuneCountInString(name) > 64 || !utf8.ValidString(name) {
		bad = append(bad, "name")
	}
	idn, idErr := cnid.Parse(cnid.Normalize(req.IDNumber), p.now())
	if idErr != nil {
		bad = append(bad, "id_number")
	}
	if !absoluteURL(req.ReturnURL) {
		bad = append(bad, "return_url")
	}
	if len(bad) > 0 {
		return sdk.FaceSession{}, sdk.Fields(sdk.InvalidRequest, "alipay: begin face: name, a valid ID number and an absolute return URL are required", bad...)
	}
	order, err := randomHex(16)
	if err != nil {
		return sdk.FaceSession{}, err
	}
	biz := initBiz{
		OuterOrderNo:   order,
		BizCode:        "FACE",
		IdentityParam:  identityParam{IdentityType: "CERT_INFO", CertType: "IDENTITY_CARD", CertName: name, CertNo: idn.String()},
		MerchantConfig: merchantConfig{ReturnURL: req.ReturnURL},
	}
	var out struct {
		CertifyID string `json:"certify_id"`
	}
	if err := p.call(ctx, c, methodCertifyInit, nil, biz, &out); err != nil {
		return sdk.FaceSession{}, err
	}
	if out.CertifyID == "" || len(out.CertifyID) > 128 || !printable(out.CertifyID) {
		return sdk.FaceSession{}, sdk.Vendor(sdk.VendorUnavailable, "no_certify_id", "alipay: initialize answered no certify_id")
	}
	now := p.now()
	certify, err := signedValues(c.config, now, methodCertify, nil, certifyBiz{CertifyID: out.CertifyID})
	if err != nil {
		return sdk.FaceSession{}, err
	}
	exp := now.Add(faceTTL)
	id, err := c.sealHandle(handleFace, payload{ID: out.CertifyID, Exp: exp.Unix()})
	if err != nil {
		return sdk.FaceSession{}, err
	}
	p.log.Info("alipay: face check started", "id_number", idn.Masked())
	// The URL smartwalle's BuildURL makes: the gateway, "?", the encoded
	// signed parameters.
	return sdk.FaceSession{CertifyID: id, QRContent: c.gatewayURL + "?" + certify.Encode(), ExpiresAt: time.Unix(exp.Unix(), 0)}, nil
}

// Sandbox-defined fail_reason values; the real gateway gives the server
// no reason (vendor-protocols §2.7).
const (
	failFaceMismatch = "人脸比对不通过"
	failLiveness     = "活体检测不通过"
)

// queryNode is the success node of alipay.user.certify.open.query.
type queryNode struct {
	Passed     string `json:"passed"`
	FailReason string `json:"fail_reason"`
}

// QueryFace asks alipay.user.certify.open.query: passed T is PASSED; F is
// PENDING until a fail_reason tells why it failed, or until the certify
// URL's time is up (FAILED, Expired).
func (p *Provider) QueryFace(ctx context.Context, certifyID string) (sdk.FaceStatus, error) {
	c, err := p.configured()
	if err != nil {
		return sdk.FaceStatus{}, err
	}
	h, ok := c.openHandle(handleFace, certifyID)
	if !ok {
		return sdk.FaceStatus{}, sdk.E(sdk.UUIDInvalid, "alipay: unknown, altered or foreign certify id")
	}
	var q queryNode
	if err := p.call(ctx, c, methodCertifyQuery, nil, certifyBiz{CertifyID: h.ID}, &q); err != nil {
		return sdk.FaceStatus{}, err
	}
	return faceStatus(q, h, p.now())
}

func faceStatus(q queryNode, h payload, now time.Time) (sdk.FaceStatus, error) {
	switch q.Passed {
	case "T":
		return sdk.FaceStatus{Result: sdk.FacePassed, Reference: h.ID}, nil
	case "F", "":
	default:
		return sdk.FaceStatus{}, sdk.Vendor(sdk.VendorUnavailable, "passed="+q.Passed, "alipay: query answered an unknown passed value")
	}
	switch q.FailReason {
	case failFaceMismatch:
		return sdk.FaceStatus{Result: sdk.FaceFailed, Reason: sdk.FaceMismatch, VendorCode: q.FailReason, Reference: h.ID}, nil
	case failLiveness:
		return sdk.FaceStatus{Result: sdk.FaceFailed, Reason: sdk.LivenessFailed, VendorCode: q.FailReason, Reference: h.ID}, nil
	case "":
	default:
		return sdk.FaceStatus{Result: sdk.FaceFailed, Reason: sdk.FaceMismatch, VendorCode: q.FailReason, Reference: h.ID}, nil
	}
	if !now.Before(h.expires()) {
		return sdk.FaceStatus{Result: sdk.FaceFailed, Reason: sdk.Expired, Reference: h.ID}, nil
	}
	return sdk.FaceStatus{Result: sdk.FacePending, Reference: h.ID}, nil
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// printable reports whether s is printable ASCII without spaces.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

var (
	_ sdk.Provider     = (*Provider)(nil)
	_ sdk.ScanLogin    = (*Provider)(nil)
	_ sdk.FaceVerifier = (*Provider)(nil)
)
