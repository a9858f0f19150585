package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/pluginconfig"
)

// config is the provider's config block from the gateway, validated.
type config struct {
	// baseURL (base_url) is the root of the Acme API, e.g.
	// https://api.acme.example.
	baseURL string
	// appID and appSecret (app_id, app_secret) are the credentials Acme
	// issued; requests are signed with the secret.
	appID, appSecret string
	// timeout (timeout_seconds, at most 60; 0 or absent is 10) bounds
	// each HTTP request.
	timeout time.Duration
}

// parseConfig reads the configuration and reports every bad field at
// once, unknown fields included (a typo must not pass unnoticed).
func parseConfig(raw json.RawMessage) (config, error) {
	r, err := pluginconfig.New("acme", raw, "base_url", "app_id", "app_secret", "timeout_seconds")
	if err != nil {
		return config{}, err
	}
	c := config{
		baseURL:   r.BaseURL("base_url", ""),
		appID:     r.Required("app_id"),
		appSecret: r.Required("app_secret"),
		timeout:   10 * time.Second,
	}
	if n := r.Int("timeout_seconds", 0, 0, 60); n > 0 {
		c.timeout = time.Duration(n) * time.Second
	}
	return c, r.Err()
}

// client is a configured connection to Acme.
type client struct {
	base   string
	appID  string
	secret []byte
	http   *http.Client
}

// provider is the Acme provider. It keeps no session state: session and
// certify ids are Acme's, so any gateway replica may ask about any of
// them.
type provider struct {
	log     *slog.Logger
	version string
	c       atomic.Pointer[client]
}

func newProvider(log *slog.Logger, version string) *provider {
	return &provider{log: log, version: version}
}

func (p *provider) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{
		Name:         "acme",
		Version:      p.version,
		Capabilities: []sdk.Capability{sdk.CapabilityScanLogin, sdk.CapabilityFaceVerification},
		Description:  "Acme Identity: scan login with the Acme app, face verification",
	}, nil
}

// Configure checks the configuration without calling Acme: the vendor
// being down must not stop the plugin from starting (Health reports it).
func (p *provider) Configure(_ context.Context, raw json.RawMessage) error {
	c, err := parseConfig(raw)
	if err != nil {
		return err
	}
	p.c.Store(&client{
		base:   c.baseURL,
		appID:  c.appID,
		secret: []byte(c.appSecret),
		http:   &http.Client{Timeout: c.timeout},
	})
	p.log.Info("acme configured", "base_url", c.baseURL, "app_id", c.appID)
	return nil
}

func (p *provider) Health(ctx context.Context) (sdk.Health, error) {
	if err := p.do(ctx, http.MethodGet, "/v1/ping", nil, nil); err != nil {
		return sdk.Health{Status: sdk.Degraded, Message: "acme API: " + sdk.KindOf(err).String()}, nil
	}
	return sdk.Health{Status: sdk.Serving}, nil
}

// apiError is Acme's error body.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// vendorKind maps Acme's error codes to kinds.
func vendorKind(status int, code string) sdk.Kind {
	switch code {
	case "SESSION_NOT_FOUND":
		return sdk.UUIDInvalid
	case "CODE_USED":
		return sdk.CodeReused
	case "CODE_INVALID":
		return sdk.CodeInvalid
	case "CODE_EXPIRED", "SESSION_EXPIRED":
		return sdk.Expired
	case "BAD_SIGNATURE", "UNKNOWN_APP":
		return sdk.InvalidConfig
	case "CERTIFY_NOT_FOUND", "BAD_REQUEST":
		return sdk.InvalidRequest
	}
	switch {
	case status == http.StatusTooManyRequests:
		return sdk.RateLimited
	case status >= 500:
		return sdk.VendorUnavailable
	}
	return sdk.Internal
}

// do sends a signed request to Acme and decodes its JSON answer into out.
func (p *provider) do(ctx context.Context, method, path string, in, out any) error {
	c := p.c.Load()
	if c == nil {
		return sdk.E(sdk.InvalidConfig, "not configured")
	}
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("acme: encode request: %w", err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("acme: %s %s: %w", method, path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Acme-App", c.appID)
	req.Header.Set("X-Acme-Signature", sign(c.secret, method, path, body))
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &sdk.Error{Kind: sdk.VendorUnavailable, Message: "acme request failed", Err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return &sdk.Error{Kind: sdk.VendorUnavailable, Message: "reading acme response", Err: err}
	}
	if resp.StatusCode != http.StatusOK {
		var e apiError
		_ = json.Unmarshal(b, &e)
		k := vendorKind(resp.StatusCode, e.Code)
		p.log.Warn("acme error", "path", path, "status", resp.StatusCode, "vendor_code", e.Code, "kind", k.String())
		return sdk.Vendor(k, e.Code, "acme: "+e.Message)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return &sdk.Error{Kind: sdk.Internal, Message: "acme answered malformed JSON", Err: err}
		}
	}
	return nil
}

// sign is Acme's request signature: hex HMAC-SHA256 of method, path and
// body, one per line.
func sign(secret []byte, method, path string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(method + "\n" + path + "\n"))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func (p *provider) BeginScan(ctx context.Context, req sdk.BeginScanRequest) (sdk.ScanSession, error) {
	var out struct {
		SessionID string `json:"session_id"`
		QRURL     string `json:"qr_url"`
		ExpiresAt int64  `json:"expires_at"`
	}
	in := map[string]string{"callback_url": req.CallbackURL, "state": req.State}
	if err := p.do(ctx, http.MethodPost, "/v1/qr/sessions", in, &out); err != nil {
		return sdk.ScanSession{}, fmt.Errorf("acme: begin scan: %w", err)
	}
	return sdk.ScanSession{UUID: out.SessionID, QRContent: out.QRURL, ExpiresAt: time.Unix(out.ExpiresAt, 0)}, nil
}

func scanState(s string) (sdk.ScanState, bool) {
	switch s {
	case "waiting":
		return sdk.ScanWaiting, true
	case "scanned":
		return sdk.ScanScanned, true
	case "confirmed":
		return sdk.ScanConfirmed, true
	case "expired":
		return sdk.ScanExpired, true
	case "cancelled":
		return sdk.ScanCancelled, true
	}
	return 0, false
}

func (p *provider) PollScan(ctx context.Context, uuid string) (sdk.ScanStatus, error) {
	if uuid == "" || strings.ContainsAny(uuid, "/?#") {
		return sdk.ScanStatus{}, sdk.E(sdk.UUIDInvalid, "malformed session id")
	}
	var out struct {
		Status   string `json:"status"`
		AuthCode string `json:"auth_code"`
	}
	if err := p.do(ctx, http.MethodGet, "/v1/qr/sessions/"+uuid, nil, &out); err != nil {
		return sdk.ScanStatus{}, fmt.Errorf("acme: poll scan: %w", err)
	}
	st, ok := scanState(out.Status)
	if !ok {
		return sdk.ScanStatus{}, sdk.Vendor(sdk.Internal, out.Status, "acme: unknown session status")
	}
	return sdk.ScanStatus{State: st, Code: out.AuthCode}, nil
}

// ScanCallback reads Acme's redirect: auth_code on approval,
// error=access_denied when the user refused.
func (p *provider) ScanCallback(_ context.Context, uuid string, query map[string]string) (sdk.ScanStatus, error) {
	switch {
	case query["error"] == "access_denied":
		return sdk.ScanStatus{State: sdk.ScanCancelled}, nil
	case query["error"] != "":
		return sdk.ScanStatus{}, sdk.Vendor(sdk.InvalidRequest, query["error"], "acme: callback error")
	case query["auth_code"] == "":
		return sdk.ScanStatus{}, sdk.Fields(sdk.InvalidRequest, "callback without auth_code", "auth_code")
	}
	return sdk.ScanStatus{State: sdk.ScanConfirmed, Code: query["auth_code"]}, nil
}

func (p *provider) ExchangeCode(ctx context.Context, uuid, code string) (sdk.Identity, error) {
	var out struct {
		OpenID   string `json:"open_id"`
		UnionID  string `json:"union_id"`
		Nickname string `json:"nickname"`
		RealName string `json:"real_name"`
		IDNumber string `json:"id_number"`
		Verified bool   `json:"verified"`
		Serial   string `json:"serial"`
	}
	in := map[string]string{"session_id": uuid, "auth_code": code}
	if err := p.do(ctx, http.MethodPost, "/v1/oauth/token", in, &out); err != nil {
		return sdk.Identity{}, fmt.Errorf("acme: exchange code: %w", err)
	}
	id := sdk.Identity{
		Subject:     out.OpenID,
		SubjectIDs:  map[string]string{"open_id": out.OpenID},
		DisplayName: out.Nickname,
		Reference:   out.Serial,
	}
	if out.UnionID != "" {
		id.Subject = out.UnionID
		id.SubjectIDs["union_id"] = out.UnionID
	}
	if out.Verified {
		id.Name, id.IDNumber, id.Level = out.RealName, out.IDNumber, sdk.LevelNameID
	}
	return id, nil
}

func (p *provider) BeginFace(ctx context.Context, req sdk.FaceRequest) (sdk.FaceSession, error) {
	var out struct {
		CertifyID string `json:"certify_id"`
		FaceURL   string `json:"face_url"`
		ExpiresAt int64  `json:"expires_at"`
	}
	in := map[string]string{"name": req.Name, "id_number": req.IDNumber, "return_url": req.ReturnURL}
	if err := p.do(ctx, http.MethodPost, "/v1/face/sessions", in, &out); err != nil {
		return sdk.FaceSession{}, fmt.Errorf("acme: begin face: %w", err)
	}
	return sdk.FaceSession{CertifyID: out.CertifyID, QRContent: out.FaceURL, ExpiresAt: time.Unix(out.ExpiresAt, 0)}, nil
}

func (p *provider) QueryFace(ctx context.Context, certifyID string) (sdk.FaceStatus, error) {
	if certifyID == "" || strings.ContainsAny(certifyID, "/?#") {
		return sdk.FaceStatus{}, sdk.Fields(sdk.InvalidRequest, "malformed certify id", "certify_id")
	}
	var out struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
		Serial string `json:"serial"`
	}
	if err := p.do(ctx, http.MethodGet, "/v1/face/sessions/"+certifyID, nil, &out); err != nil {
		return sdk.FaceStatus{}, fmt.Errorf("acme: query face: %w", err)
	}
	st := sdk.FaceStatus{Reference: out.Serial, VendorCode: out.Reason}
	switch out.Status {
	case "pending":
		st.Result = sdk.FacePending
	case "passed":
		st.Result = sdk.FacePassed
	case "failed":
		st.Result = sdk.FaceFailed
		switch out.Reason {
		case "LIVENESS":
			st.Reason = sdk.LivenessFailed
		case "EXPIRED":
			st.Reason = sdk.Expired
		case "CANCELLED":
			st.Reason = sdk.Cancelled
		default:
			st.Reason = sdk.FaceMismatch
		}
	default:
		return sdk.FaceStatus{}, sdk.Vendor(sdk.Internal, out.Status, "acme: unknown face status")
	}
	return st, nil
}

var (
	_ sdk.Provider      = (*provider)(nil)
	_ sdk.HealthChecker = (*provider)(nil)
	_ sdk.ScanLogin     = (*provider)(nil)
	_ sdk.FaceVerifier  = (*provider)(nil)
)
