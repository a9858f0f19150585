package ctid

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
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

// Authentication modes (vendor-protocols §3.2).
const (
	modeRead        = "0x10" // the CTID app reads the ID card's chip
	modeTwoFactor   = "0x40" // name + ID number
	modeTwoPortrait = "0x42" // name + ID number + live portrait
)

// Session states of /v1/query (sandbox-defined).
const (
	statusPending   = "pending"
	statusRead      = "read"
	statusConfirmed = "confirmed"
	statusVerifying = "verifying"
	statusPassed    = "passed"
	statusFailed    = "failed"
	statusCancelled = "cancelled"
	statusExpired   = "expired"
)

const (
	// defaultTTL is a bsn's lifetime when the platform does not say.
	defaultTTL = 5 * time.Minute
	// maxTTL caps what the platform says, so a handle never outlives a day.
	maxTTL  = 24 * time.Hour
	maxCode = 256
	maxBSN  = 64
	maxQR   = 2048
)

// configured is a provider's live configuration.
type configured struct {
	*config
	http       *http.Client
	handles    *handle.Sealer
	subjectKey []byte
}

// Provider is the CTID provider. It keeps no session state: handles seal
// the platform's bsn.
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

// Info names the provider and declares scan login, the identity check and
// face verification.
func (p *Provider) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{
		Name:            "ctid",
		Version:         Version,
		ProtocolVersion: sdk.ProtocolVersion,
		Capabilities:    []sdk.Capability{sdk.CapabilityScanLogin, sdk.CapabilityIdentityCheck, sdk.CapabilityFaceVerification},
		Description:     "CTID 网证：扫码读取身份证芯片登录、两要素核验（0x40）、两要素+人像核验（0x42）；沙箱定义的协议",
	}, nil
}

// Configure validates the configuration without calling the platform.
func (p *Provider) Configure(_ context.Context, raw json.RawMessage) error {
	c, err := parseConfig(raw)
	if err != nil {
		return err
	}
	s, err := handle.NewSealer(c.handleKey, handleLabel)
	if err != nil {
		return fmt.Errorf("ctid: configure: %w", err)
	}
	sk, err := hkdf.Key(sha256.New, c.handleKey, nil, "shiming ctid subject v1", 32)
	if err != nil {
		return err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	next := &configured{config: c, handles: s, subjectKey: sk, http: &http.Client{Timeout: c.httpTimeout, Transport: tr}}
	if prev := p.cur.Swap(next); prev != nil {
		prev.http.CloseIdleConnections()
	}
	if c.insecure {
		p.log.Warn("ctid: plain http to a host other than loopback; use https outside the sandbox")
	}
	p.log.Info("ctid: configured", "org_code", c.orgCode, "base_url", c.baseURL)
	return nil
}

func (p *Provider) configured() (*configured, error) {
	c := p.cur.Load()
	if c == nil {
		return nil, sdk.E(sdk.InvalidConfig, "ctid: not configured")
	}
	return c, nil
}

// applyAnswer is the bizData of /v1/apply.
type applyAnswer struct {
	BSN          string `json:"bsn"`
	RandomNumber string `json:"randomNumber"`
	AuthMode     string `json:"authMode"`
	ExpiresIn    int    `json:"expiresIn"`
	QRContent    string `json:"qrContent"`
}

// apply opens a bsn for mode and checks the answer.
func (p *Provider) apply(ctx context.Context, c *configured, mode string) (applyAnswer, time.Time, error) {
	var a applyAnswer
	if err := p.call(ctx, c, pathApply, map[string]string{"authMode": mode}, &a); err != nil {
		return a, time.Time{}, err
	}
	if !validBSN(a.BSN) || (a.AuthMode != "" && a.AuthMode != mode) || len(a.QRContent) > maxQR {
		return a, time.Time{}, sdk.Vendor(sdk.VendorUnavailable, "bad_apply", "ctid: apply answered no usable bsn")
	}
	ttl := time.Duration(a.ExpiresIn) * time.Second
	if ttl <= 0 {
		ttl = defaultTTL
	}
	exp := p.now().Add(min(ttl, maxTTL))
	return a, time.Unix(exp.Unix(), 0), nil
}

// BeginScan applies for a card read (0x10) and shows the platform's QR
// content. CallbackURL and State are not used: CTID does not redirect.
func (p *Provider) BeginScan(ctx context.Context, _ sdk.BeginScanRequest) (sdk.ScanSession, error) {
	c, err := p.configured()
	if err != nil {
		return sdk.ScanSession{}, err
	}
	a, exp, err := p.apply(ctx, c, modeRead)
	if err != nil {
		return sdk.ScanSession{}, err
	}
	if a.QRContent == "" {
		return sdk.ScanSession{}, sdk.Vendor(sdk.VendorUnavailable, "no_qr_content", "ctid: apply 0x10 answered no qrContent")
	}
	uuid, err := c.sealHandle(handleScan, payload{BSN: a.BSN, Exp: exp.Unix()})
	if err != nil {
		return sdk.ScanSession{}, err
	}
	return sdk.ScanSession{UUID: uuid, QRContent: a.QRContent, ExpiresAt: exp}, nil
}

// queryAnswer is the bizData of /v1/query.
type queryAnswer struct {
	BSN              string `json:"bsn"`
	AuthMode         string `json:"authMode"`
	Status           string `json:"status"`
	AuthCode         string `json:"authCode"`
	VerifyResultCode string `json:"verifyResultCode"`
}

// query asks for a bsn's state and checks that the answer is about it.
func (p *Provider) query(ctx context.Context, c *configured, bsn, mode string) (queryAnswer, error) {
	var q queryAnswer
	if err := p.call(ctx, c, pathQuery, map[string]string{"bsn": bsn}, &q); err != nil {
		return q, err
	}
	if q.BSN != bsn || (q.AuthMode != "" && q.AuthMode != mode) {
		return q, sdk.Vendor(sdk.VendorUnavailable, "bsn_mismatch", "ctid: query answered about another bsn or mode")
	}
	return q, nil
}

// PollScan reports the card read's state. A session whose time is up is
// EXPIRED without asking the platform.
func (p *Provider) PollScan(ctx context.Context, uuid string) (sdk.ScanStatus, error) {
	c, err := p.configured()
	if err != nil {
		return sdk.ScanStatus{}, err
	}
	h, ok := c.openHandle(handleScan, uuid)
	if !ok {
		return sdk.ScanStatus{}, sdk.E(sdk.UUIDInvalid, "ctid: unknown, altered or foreign QR session")
	}
	if !p.now().Before(h.expires()) {
		return sdk.ScanStatus{State: sdk.ScanExpired}, nil
	}
	q, err := p.query(ctx, c, h.BSN, modeRead)
	if err != nil {
		return sdk.ScanStatus{}, err
	}
	return scanStatus(q)
}

func scanStatus(q queryAnswer) (sdk.ScanStatus, error) {
	switch q.Status {
	case statusPending:
		return sdk.ScanStatus{State: sdk.ScanWaiting}, nil
	case statusRead, statusConfirmed:
		// confirmed: the code was exchanged already; a second exchange is
		// CodeReused, which the host heals with a fresh QR code.
		if q.AuthCode == "" || len(q.AuthCode) > maxCode || !printable(q.AuthCode) {
			return sdk.ScanStatus{}, sdk.Vendor(sdk.VendorUnavailable, "no_auth_code", "ctid: card read without an authCode")
		}
		return sdk.ScanStatus{State: sdk.ScanConfirmed, Code: q.AuthCode}, nil
	case statusCancelled:
		return sdk.ScanStatus{State: sdk.ScanCancelled}, nil
	case statusExpired:
		return sdk.ScanStatus{State: sdk.ScanExpired}, nil
	}
	return sdk.ScanStatus{}, sdk.Vendor(sdk.VendorUnavailable, "status="+q.Status, "ctid: unknown status of a card read")
}

// ScanCallback answers what PollScan answers: CTID has no browser
// redirect, so there is no callback query to read.
func (p *Provider) ScanCallback(ctx context.Context, uuid string, _ map[string]string) (sdk.ScanStatus, error) {
	return p.PollScan(ctx, uuid)
}

// identityAnswer is the bizData of /v1/identity: the chip identity.
type identityAnswer struct {
	BSN      string `json:"bsn"`
	AuthMode string `json:"authMode"`
	Name     string `json:"name"`
	IDNo     string `json:"idNo"`
	BID      string `json:"bid"`
}

// ExchangeCode exchanges the authCode (single-use) for the identity read
// from the card's chip.
func (p *Provider) ExchangeCode(ctx context.Context, uuid, code string) (sdk.Identity, error) {
	c, err := p.configured()
	if err != nil {
		return sdk.Identity{}, err
	}
	h, ok := c.openHandle(handleScan, uuid)
	if !ok {
		return sdk.Identity{}, sdk.E(sdk.UUIDInvalid, "ctid: unknown, altered or foreign QR session")
	}
	if code == "" || len(code) > maxCode || !printable(code) {
		return sdk.Identity{}, sdk.Fields(sdk.InvalidRequest, "ctid: malformed authCode", "code")
	}
	var a identityAnswer
	if err := p.call(ctx, c, pathIdentity, map[string]string{"authCode": code}, &a); err != nil {
		return sdk.Identity{}, err
	}
	if a.BSN != h.BSN {
		// The code belongs to another session of this organisation.
		return sdk.Identity{}, sdk.E(sdk.CodeInvalid, "ctid: the authCode is not this session's")
	}
	id, err := identityOf(a, c.subjectKey, p.now())
	if err != nil {
		return sdk.Identity{}, err
	}
	p.log.Info("ctid: card identity released", "id_number", cnid.MaskID(id.IDNumber))
	return id, nil
}

// identityOf builds the identity from the chip data: the 网证 bid as
// subject, else a keyed hash of the ID number.
func identityOf(a identityAnswer, subjectKey []byte, now time.Time) (sdk.Identity, error) {
	name := strings.TrimSpace(a.Name)
	n, err := cnid.Parse(cnid.Normalize(a.IDNo), now)
	if err != nil || name == "" || !utf8.ValidString(name) || (a.AuthMode != "" && a.AuthMode != modeRead) {
		return sdk.Identity{}, sdk.Vendor(sdk.VendorUnavailable, "bad_identity", "ctid: identity answer without a valid name and ID number")
	}
	id := sdk.Identity{SubjectIDs: map[string]string{}, DisplayName: name, Name: name, IDNumber: n.String(),
		Level: sdk.LevelCTID, Reference: a.BSN}
	if bid := strings.TrimSpace(a.BID); bid != "" && len(bid) <= 128 && printable(bid) {
		id.Subject = bid
		id.SubjectIDs["bid"] = bid
	} else {
		m := hmac.New(sha256.New, subjectKey)
		m.Write([]byte(n.String()))
		id.Subject = "idh_" + hex.EncodeToString(m.Sum(nil))[:40]
	}
	return id, nil
}

// verificationAnswer is the bizData of /v1/verification.
type verificationAnswer struct {
	BSN       string `json:"bsn"`
	AuthMode  string `json:"authMode"`
	Status    string `json:"status"`
	BID       string `json:"bid"`
	QRContent string `json:"qrContent"`
}

// checkPerson validates a name and an ID number before any call.
func (p *Provider) checkPerson(name, idNumber string) (string, cnid.ID, error) {
	name = strings.TrimSpace(name)
	var bad []string
	if name == "" || utf8.RuneCountInString(name) > 64 || !utf8.ValidString(name) {
		bad = append(bad, "name")
	}
	n, err := cnid.Parse(cnid.Normalize(idNumber), p.now())
	if err != nil {
		bad = append(bad, "id_number")
	}
	if len(bad) > 0 {
		return "", cnid.ID{}, sdk.Fields(sdk.InvalidRequest, "ctid: a name and a valid ID number are required", bad...)
	}
	return name, n, nil
}

// verifyPerson applies for mode and sends the encrypted name and ID number.
func (p *Provider) verifyPerson(ctx context.Context, c *configured, mode, name string, n cnid.ID) (applyAnswer, verificationAnswer, time.Time, error) {
	a, exp, err := p.apply(ctx, c, mode)
	if err != nil {
		return a, verificationAnswer{}, exp, err
	}
	retain, err := encryptRetainData(c.platformKey, retainData{Name: name, IDNo: n.String()})
	if err != nil {
		return a, verificationAnswer{}, exp, err
	}
	var v verificationAnswer
	err = p.call(ctx, c, pathVerification, map[string]string{"bsn": a.BSN, "authMode": mode, "authApplyRetainData": retain}, &v)
	if err == nil && (v.BSN != a.BSN || (v.AuthMode != "" && v.AuthMode != mode)) {
		err = sdk.Vendor(sdk.VendorUnavailable, "bsn_mismatch", "ctid: verification answered about another bsn")
	}
	return a, v, exp, err
}

// CheckIdentity checks a name against an ID number (两要素, 0x40) and
// returns the bsn as the reference.
func (p *Provider) CheckIdentity(ctx context.Context, name, idNumber string) (string, error) {
	c, err := p.configured()
	if err != nil {
		return "", err
	}
	name, n, err := p.checkPerson(name, idNumber)
	if err != nil {
		return "", err
	}
	a, v, _, err := p.verifyPerson(ctx, c, modeTwoFactor, name, n)
	if err != nil {
		return "", err
	}
	if v.Status != statusPassed {
		return "", sdk.Vendor(sdk.VendorUnavailable, "status="+v.Status, "ctid: two-factor verification did not pass")
	}
	p.log.Info("ctid: identity checked", "id_number", n.Masked())
	return a.BSN, nil
}

// BeginFace starts a portrait check (0x42): the person scans the QR code
// with the CTID app and shows their face.
func (p *Provider) BeginFace(ctx context.Context, req sdk.FaceRequest) (sdk.FaceSession, error) {
	c, err := p.configured()
	if err != nil {
		return sdk.FaceSession{}, err
	}
	name, n, err := p.checkPerson(req.Name, req.IDNumber)
	if err != nil {
		return sdk.FaceSession{}, err
	}
	a, v, exp, err := p.verifyPerson(ctx, c, modeTwoPortrait, name, n)
	if err != nil {
		return sdk.FaceSession{}, err
	}
	qr := v.QRContent
	if qr == "" {
		qr = a.QRContent
	}
	if v.Status != statusVerifying || qr == "" || len(qr) > maxQR {
		return sdk.FaceSession{}, sdk.Vendor(sdk.VendorUnavailable, "status="+v.Status, "ctid: portrait verification did not start")
	}
	id, err := c.sealHandle(handleFace, payload{BSN: a.BSN, Exp: exp.Unix()})
	if err != nil {
		return sdk.FaceSession{}, err
	}
	p.log.Info("ctid: portrait check started", "id_number", n.Masked())
	return sdk.FaceSession{CertifyID: id, QRContent: qr, ExpiresAt: exp}, nil
}

// QueryFace reports the portrait check: passed, failed with the reason the
// platform's verifyResultCode gives, cancelled, expired or pending.
func (p *Provider) QueryFace(ctx context.Context, certifyID string) (sdk.FaceStatus, error) {
	c, err := p.configured()
	if err != nil {
		return sdk.FaceStatus{}, err
	}
	h, ok := c.openHandle(handleFace, certifyID)
	if !ok {
		return sdk.FaceStatus{}, sdk.E(sdk.UUIDInvalid, "ctid: unknown, altered or foreign certify id")
	}
	q, err := p.query(ctx, c, h.BSN, modeTwoPortrait)
	if err != nil {
		// The platform forgets a bsn some time after it expired.
		if sdk.KindOf(err) == sdk.UUIDInvalid && !p.now().Before(h.expires()) {
			return sdk.FaceStatus{Result: sdk.FaceFailed, Reason: sdk.Expired, VendorCode: sdk.VendorCodeOf(err), Reference: h.BSN}, nil
		}
		return sdk.FaceStatus{}, err
	}
	return faceStatus(q, h.BSN)
}

func faceStatus(q queryAnswer, bsn string) (sdk.FaceStatus, error) {
	st := sdk.FaceStatus{Reference: bsn}
	if q.VerifyResultCode != resultOK {
		st.VendorCode = q.VerifyResultCode
	}
	switch q.Status {
	case statusPending, statusVerifying:
		st.Result = sdk.FacePending
	case statusPassed:
		st.Result = sdk.FacePassed
	case statusCancelled:
		st.Result, st.Reason = sdk.FaceFailed, sdk.Cancelled
	case statusExpired:
		st.Result, st.Reason = sdk.FaceFailed, sdk.Expired
	case statusFailed:
		st.Result = sdk.FaceFailed
		switch k := kindFor(q.VerifyResultCode); k {
		case sdk.FaceMismatch, sdk.LivenessFailed, sdk.Cancelled, sdk.Expired, sdk.NameIDMismatch:
			st.Reason = k
		default:
			st.Reason = sdk.FaceMismatch
		}
	default:
		return sdk.FaceStatus{}, sdk.Vendor(sdk.VendorUnavailable, "status="+q.Status, "ctid: unknown status of a portrait check")
	}
	return st, nil
}

func validBSN(s string) bool { return len(s) <= maxBSN && printable(s) }

var (
	_ sdk.Provider        = (*Provider)(nil)
	_ sdk.ScanLogin       = (*Provider)(nil)
	_ sdk.IdentityChecker = (*Provider)(nil)
	_ sdk.FaceVerifier    = (*Provider)(nil)
)
