// Package ctid simulates a CTID (居民身份证网上功能凭证, 网证) platform for
// the sandbox. The official CTID API is not public, so the protocol is
// SANDBOX-DEFINED in the shape resellers use: signed JSON envelopes,
// apply → bsn + randomNumber, retain data encrypted to the platform key,
// resultCode/resultDesc. See the sandbox README for the wire format.
package ctid

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/citizens"
	"github.com/shiming-id/shiming/contrib/sandbox/simenv"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

//go:embed web
var webFS embed.FS

// Host is the sandbox-defined host of the simulated platform; it is not a
// real host name.
const Host = "ctid.sandbox"

// Vendor is the name used for fault rules and phone items.
const Vendor = "ctid"

// PublicKeyPath is where the platform's public key is published (PEM).
const PublicKeyPath = "/v1/platform/public-key"

// Authentication modes the sandbox supports.
const (
	ModeRead        = "0x10" // 四要素: the holder reads the card in the CTID app (scan login)
	ModeTwoFactor   = "0x40" // 两要素: name + ID number
	ModeTwoPortrait = "0x42" // 两要素 + 头像: name + ID number + live face on the phone
)

// Org is an organisation registered with the platform. It signs its
// requests with its private key; the platform keeps only the public key.
type Org struct {
	OrgCode         string `yaml:"org_code"`
	Name            string `yaml:"name"`
	OrgPublicKeyPEM string `yaml:"org_public_key"`
	// OrgPrivateKeyPEM is kept only so that the demo can hand the key to
	// the plugin; the platform never uses it.
	OrgPrivateKeyPEM string `yaml:"org_private_key,omitempty"`
}

// GenerateOrg returns a demo organisation with a fresh RSA 2048 key pair.
func GenerateOrg(name string) (Org, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return Org{}, fmt.Errorf("ctid: generate org key: %w", err)
	}
	b := make([]byte, 5)
	if _, err := rand.Read(b); err != nil {
		return Org{}, err
	}
	return Org{
		OrgCode: "SBX" + strings.ToUpper(hex.EncodeToString(b)), Name: name,
		OrgPublicKeyPEM: PublicKeyPEM(&key.PublicKey), OrgPrivateKeyPEM: privateKeyPEM(key),
	}, nil
}

// Options tune the simulator; zero values take the defaults.
type Options struct {
	SessionTTL time.Duration // how long a bsn lives (5 min)
	CodeTTL    time.Duration // how long an authorization code lives (5 min)
	// PlatformKey, if set, replaces the key pair kept in the data folder.
	PlatformKey *rsa.PrivateKey
}

// Result codes (SANDBOX-DEFINED). The README lists them with their use.
const (
	CodeOK            = "0"
	CodeBadMessage    = "1001"
	CodeBadSignature  = "1002"
	CodeUnknownOrg    = "1003"
	CodeBadParameter  = "1004"
	CodeBadAuthMode   = "1005"
	CodeUnknownBSN    = "2001"
	CodeExpiredBSN    = "2002"
	CodeBadState      = "2003"
	CodeUnknownCode   = "3001"
	CodeUsedCode      = "3002"
	CodeExpiredCode   = "3003"
	CodeBadRetainData = "4001"
	CodeInvalidID     = "4002"
	CodeNameMismatch  = "4003"
	CodeFaceMismatch  = "4004"
	CodeLiveness      = "4005"
	CodeCancelled     = "4006"
	CodeBusy          = "9999"
)

// Descriptions returns every result code with its resultDesc.
func Descriptions() map[string]string {
	return map[string]string{
		CodeOK: "成功", CodeBadMessage: "请求报文格式错误", CodeBadSignature: "签名验证失败",
		CodeUnknownOrg: "机构不存在或未开通", CodeBadParameter: "请求参数错误", CodeBadAuthMode: "认证模式不支持",
		CodeUnknownBSN: "业务流水号不存在", CodeExpiredBSN: "业务流水号已过期", CodeBadState: "业务流水号当前状态不允许此操作",
		CodeUnknownCode: "授权码无效", CodeUsedCode: "授权码已使用", CodeExpiredCode: "授权码已过期",
		CodeBadRetainData: "认证数据解密失败", CodeInvalidID: "身份证号码不合法", CodeNameMismatch: "姓名和身份证号码不匹配",
		CodeFaceMismatch: "人像比对不通过", CodeLiveness: "活体检测不通过", CodeCancelled: "用户已取消", CodeBusy: "系统繁忙，请稍后重试",
	}
}

// Session states returned by the query endpoint.
const (
	StatePending   = "pending"   // waiting: the card read, or the verification call
	StateRead      = "read"      // 0x10: card read, authCode issued
	StateConfirmed = "confirmed" // 0x10: authCode exchanged for the identity
	StateVerifying = "verifying" // 0x42: waiting for the face check on the phone
	StatePassed    = "passed"    // 0x40/0x42: verification passed
	StateFailed    = "failed"    // 0x40/0x42: verification failed (see verifyResultCode)
	StateCancelled = "cancelled" // the holder cancelled in the app
	StateExpired   = "expired"   // the bsn expired before it finished
)

// Sim is the simulated platform.
type Sim struct {
	env      simenv.Env
	log      *slog.Logger
	opts     Options
	orgs     map[string]org
	platform *rsa.PrivateKey
	bidKey   []byte
	pages    *template.Template

	mu        sync.Mutex
	sessions  map[string]*session // by bsn
	codes     map[string]*authCode
	lastSweep time.Time
}

type org struct {
	Org
	key *rsa.PublicKey
}

type session struct {
	bsn      string
	orgCode  string
	authMode string
	random   string
	created  time.Time
	expires  time.Time
	status   string
	authCode string
	holder   citizens.Citizen // 0x10: who read the card
	name     string           // 0x40/0x42: from the retain data
	idNo     string
	result   string // verification result code
	score    float64
}

type authCode struct {
	bsn     string
	orgCode string
	expires time.Time
	used    bool
}

// New returns the simulated platform for the given organisations.
func New(env simenv.Env, orgs []Org, opts Options) (*Sim, error) {
	if env.Citizens == nil {
		return nil, errors.New("ctid: env has no citizen registry")
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 5 * time.Minute
	}
	if opts.CodeTTL <= 0 {
		opts.CodeTTL = 5 * time.Minute
	}
	s := &Sim{env: env, log: env.Logger, opts: opts, orgs: map[string]org{},
		sessions: map[string]*session{}, codes: map[string]*authCode{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	var problems []string
	for i, o := range orgs {
		if o.OrgCode == "" {
			problems = append(problems, fmt.Sprintf("org %d: org_code is required", i))
			continue
		}
		pub, err := ParsePublicKey(o.OrgPublicKeyPEM)
		if err != nil {
			problems = append(problems, fmt.Sprintf("org %s: org_public_key: %v", o.OrgCode, err))
		}
		if _, dup := s.orgs[o.OrgCode]; dup {
			problems = append(problems, fmt.Sprintf("org %s: duplicate org_code", o.OrgCode))
		}
		s.orgs[o.OrgCode] = org{Org: o, key: pub}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("ctid: %s", strings.Join(problems, "; "))
	}
	s.platform = opts.PlatformKey
	if s.platform == nil {
		k, err := loadOrCreatePlatformKey(env.DataDir)
		if err != nil {
			return nil, fmt.Errorf("ctid: platform key: %w", err)
		}
		s.platform = k
	}
	der, _ := x509.MarshalPKCS8PrivateKey(s.platform)
	sum := sha256.Sum256(append([]byte("ctid bid\x00"), der...))
	s.bidKey = sum[:]
	t, err := template.ParseFS(webFS, "web/*.tmpl")
	if err != nil {
		return nil, fmt.Errorf("ctid: templates: %w", err)
	}
	s.pages = t
	return s, nil
}

// PlatformPublicKey is the key organisations encrypt retain data to and
// verify responses with.
func (s *Sim) PlatformPublicKey() *rsa.PublicKey { return &s.platform.PublicKey }

// Routes serves the platform under the sandbox-defined host.
func (s *Sim) Routes() map[string]http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PublicKeyPath, s.publicKey)
	mux.HandleFunc("POST /v1/apply", s.endpoint(s.apply))
	mux.HandleFunc("POST /v1/query", s.endpoint(s.query))
	mux.HandleFunc("POST /v1/identity", s.endpoint(s.identity))
	mux.HandleFunc("POST /v1/verification", s.endpoint(s.verification))
	mux.HandleFunc("GET /app/auth", s.appPage)
	mux.HandleFunc("GET /app/ctid.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		b, _ := webFS.ReadFile("web/ctid.css")
		_, _ = w.Write(b)
	})
	return map[string]http.Handler{Host: mux}
}

func (s *Sim) publicKey(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-pem-file")
	_, _ = io.WriteString(w, PublicKeyPEM(&s.platform.PublicKey))
}

// Envelope is the body of every request and response: a JSON text and
// its signature.
type Envelope struct {
	BizPackage string `json:"bizPackage"`
	Sign       string `json:"sign"`
}

// requestPackage is the bizPackage of a request.
type requestPackage struct {
	OrgCode string          `json:"orgCode"`
	BizType int             `json:"bizType,omitempty"`
	BizData json.RawMessage `json:"bizData"`
}

// responsePackage is the bizPackage of a response.
type responsePackage struct {
	ResultCode string `json:"resultCode"`
	ResultDesc string `json:"resultDesc"`
	OrgCode    string `json:"orgCode,omitempty"`
	BizData    any    `json:"bizData,omitempty"`
}

// failure is a result code a handler answers with.
type failure struct{ code string }

func (f failure) Error() string { return "ctid: result " + f.code }

func fail(code string) error { return failure{code} }

// parseEnvelope decodes a request body, finds the org and checks the
// signature. It returns the org code even when it fails later.
func (s *Sim) parseEnvelope(body io.Reader) (org, requestPackage, error) {
	var env Envelope
	dec := json.NewDecoder(io.LimitReader(body, 4<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil || dec.More() || env.BizPackage == "" || env.Sign == "" {
		return org{}, requestPackage{}, fail(CodeBadMessage)
	}
	var pkg requestPackage
	if err := json.Unmarshal([]byte(env.BizPackage), &pkg); err != nil {
		return org{}, pkg, fail(CodeBadMessage)
	}
	if pkg.OrgCode == "" || len(pkg.BizData) == 0 || pkg.BizData[0] != '{' {
		return org{}, pkg, fail(CodeBadMessage)
	}
	o, ok := s.orgs[pkg.OrgCode]
	if !ok || o.key == nil {
		return org{}, pkg, fail(CodeUnknownOrg)
	}
	if err := Verify(o.key, []byte(env.BizPackage), env.Sign); err != nil {
		return o, pkg, fail(CodeBadSignature)
	}
	return o, pkg, nil
}

// handler is one endpoint: it reads bizData and answers bizData.
type handler func(o org, bizData json.RawMessage) (any, error)

func (s *Sim) endpoint(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if code, handled := s.env.Inject(w, r, Vendor, r.URL.Path); handled {
			return
		} else if code != "" {
			s.respond(w, r, "", code, nil)
			return
		}
		o, pkg, err := s.parseEnvelope(r.Body)
		if err != nil {
			s.respond(w, r, pkg.OrgCode, codeOf(err), nil)
			return
		}
		data, err := h(o, pkg.BizData)
		if err != nil {
			s.respond(w, r, o.OrgCode, codeOf(err), data)
			return
		}
		s.respond(w, r, o.OrgCode, CodeOK, data)
	}
}

func codeOf(err error) string {
	var f failure
	if errors.As(err, &f) {
		return f.code
	}
	return CodeBusy
}

// respond writes a signed response envelope, always with HTTP 200.
func (s *Sim) respond(w http.ResponseWriter, r *http.Request, orgCode, code string, data any) {
	desc, ok := Descriptions()[code]
	if !ok {
		desc = "沙箱注入故障"
	}
	var buf strings.Builder
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(responsePackage{ResultCode: code, ResultDesc: desc, OrgCode: orgCode, BizData: data})
	pkg := strings.TrimSuffix(buf.String(), "\n")
	sign, err := Sign(s.platform, []byte(pkg))
	if err != nil {
		http.Error(w, "sign failed", http.StatusInternalServerError)
		return
	}
	if code != CodeOK {
		s.log.Info("ctid refused", "path", r.URL.Path, "org_code", orgCode, "result_code", code)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	enc = json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(Envelope{BizPackage: pkg, Sign: sign})
}

// decodeBizData reads bizData strictly into v.
func decodeBizData(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fail(CodeBadParameter)
	}
	return nil
}

type applyRequest struct {
	AuthMode string `json:"authMode"`
}

type applyResponse struct {
	BSN          string `json:"bsn"`
	RandomNumber string `json:"randomNumber"`
	AuthMode     string `json:"authMode"`
	ExpiresIn    int    `json:"expiresIn"`
	QRContent    string `json:"qrContent,omitempty"`
}

func (s *Sim) apply(o org, raw json.RawMessage) (any, error) {
	var req applyRequest
	if err := decodeBizData(raw, &req); err != nil {
		return nil, err
	}
	switch req.AuthMode {
	case ModeRead, ModeTwoFactor, ModeTwoPortrait:
	case "":
		return nil, fail(CodeBadParameter)
	default:
		return nil, fail(CodeBadAuthMode)
	}
	now := s.env.Now()
	sess := &session{bsn: newBSN(), orgCode: o.OrgCode, authMode: req.AuthMode, random: randomB64(24),
		created: now, expires: now.Add(s.opts.SessionTTL), status: StatePending}
	s.mu.Lock()
	s.sweepLocked(now)
	s.sessions[sess.bsn] = sess
	s.mu.Unlock()
	s.log.Info("ctid apply", "org_code", o.OrgCode, "auth_mode", req.AuthMode)
	resp := applyResponse{BSN: sess.bsn, RandomNumber: sess.random, AuthMode: sess.authMode,
		ExpiresIn: int(s.opts.SessionTTL / time.Second)}
	if sess.authMode != ModeTwoFactor {
		resp.QRContent = s.qrContent(sess.bsn)
	}
	return resp, nil
}

// qrContent is what the desktop shows for the CTID app to scan.
func (s *Sim) qrContent(bsn string) string {
	return s.env.URL(Host, "/app/auth?bsn="+url.QueryEscape(bsn))
}

type bsnRequest struct {
	BSN string `json:"bsn"`
}

type queryResponse struct {
	BSN               string  `json:"bsn"`
	AuthMode          string  `json:"authMode"`
	Status            string  `json:"status"`
	AuthCode          string  `json:"authCode,omitempty"`
	VerifyResultCode  string  `json:"verifyResultCode,omitempty"`
	VerifyResultDesc  string  `json:"verifyResultDesc,omitempty"`
	PhotoCompareScore float64 `json:"photoCompareScore,omitempty"`
	ExpireTime        string  `json:"expireTime"`
}

// statusLocked returns a session's state, expiring it when due.
func (sess *session) statusLocked(now time.Time) string {
	if (sess.status == StatePending || sess.status == StateVerifying) && now.After(sess.expires) {
		sess.status = StateExpired
	}
	return sess.status
}

// sessionOf finds an org's session by bsn.
func (s *Sim) sessionOfLocked(o org, bsn string) (*session, error) {
	sess, ok := s.sessions[bsn]
	if !ok || sess.orgCode != o.OrgCode {
		return nil, fail(CodeUnknownBSN)
	}
	return sess, nil
}

func (s *Sim) query(o org, raw json.RawMessage) (any, error) {
	var req bsnRequest
	if err := decodeBizData(raw, &req); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, err := s.sessionOfLocked(o, req.BSN)
	if err != nil {
		return nil, err
	}
	resp := queryResponse{BSN: sess.bsn, AuthMode: sess.authMode, Status: sess.statusLocked(s.env.Now()),
		AuthCode: sess.authCode, ExpireTime: sess.expires.In(shanghai).Format("20060102150405")}
	if sess.result != "" {
		resp.VerifyResultCode = sess.result
		resp.VerifyResultDesc = Descriptions()[sess.result]
		resp.PhotoCompareScore = sess.score
	}
	return resp, nil
}

var shanghai = time.FixedZone("CST", 8*3600)

type identityRequest struct {
	AuthCode string `json:"authCode"`
}

type identityResponse struct {
	BSN         string `json:"bsn"`
	AuthMode    string `json:"authMode"`
	Name        string `json:"name"`
	IDNo        string `json:"idNo"`
	IDStartDate string `json:"idStartDate"`
	IDEndDate   string `json:"idEndDate"`
	BID         string `json:"bid"`
}

// identity exchanges a single-use authorization code for the identity
// read from the card's chip: the card's name, not the registry's.
func (s *Sim) identity(o org, raw json.RawMessage) (any, error) {
	var req identityRequest
	if err := decodeBizData(raw, &req); err != nil {
		return nil, err
	}
	now := s.env.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.codes[req.AuthCode]
	switch {
	case !ok || c.orgCode != o.OrgCode:
		return nil, fail(CodeUnknownCode)
	case c.used:
		return nil, fail(CodeUsedCode)
	case now.After(c.expires):
		return nil, fail(CodeExpiredCode)
	}
	c.used = true
	sess := s.sessions[c.bsn]
	if sess == nil {
		return nil, fail(CodeUnknownCode)
	}
	sess.status = StateConfirmed
	start, end := cardValidity(sess.holder.IDNumber, s.derive("validity", sess.holder.IDNumber), now)
	s.log.Info("ctid identity released", "org_code", o.OrgCode, "id_number", cnid.MaskID(sess.holder.IDNumber))
	return identityResponse{BSN: sess.bsn, AuthMode: sess.authMode, Name: sess.holder.Name, IDNo: sess.holder.IDNumber,
		IDStartDate: start, IDEndDate: end, BID: s.bid(sess.holder.IDNumber)}, nil
}

// bid is the person's stable 网证 identifier.
func (s *Sim) bid(idNumber string) string {
	return strings.ToUpper(s.derive("bid", idNumber)[:32])
}

func (s *Sim) derive(parts ...string) string {
	m := hmac.New(sha256.New, s.bidKey)
	m.Write([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(m.Sum(nil))
}

// cardValidity makes up a card's validity period by the GB rules: issued
// within the last ten years; valid 5 years under 16, 10 years to 25, 20
// years to 45, long-term (长期) after.
func cardValidity(idNumber, seed string, now time.Time) (string, string) {
	id, err := cnid.Parse(idNumber, now)
	if err != nil {
		return "", ""
	}
	days := seedNum(seed) % 3650
	issued := now.AddDate(0, 0, -days-30)
	if b := id.BirthDate().AddDate(0, 1, 0); issued.Before(b) {
		issued = b
	}
	age := cnid.AgeOn(id.BirthDate(), issued)
	var end string
	switch {
	case age < 16:
		end = issued.AddDate(5, 0, 0).Format("20060102")
	case age <= 25:
		end = issued.AddDate(10, 0, 0).Format("20060102")
	case age <= 45:
		end = issued.AddDate(20, 0, 0).Format("20060102")
	default:
		end = "长期"
	}
	return issued.Format("20060102"), end
}

type verificationRequest struct {
	BSN                 string `json:"bsn"`
	AuthMode            string `json:"authMode"`
	AuthApplyRetainData string `json:"authApplyRetainData"`
	PhotoData           string `json:"photoData,omitempty"`
}

type retainData struct {
	Name         string `json:"name"`
	IDNo         string `json:"idNo"`
	IDIssueDate  string `json:"idIssueDate,omitempty"`
	IDExpireDate string `json:"idExpireDate,omitempty"`
	Location     string `json:"location,omitempty"`
	PackageName  string `json:"packageName,omitempty"`
}

type verificationResponse struct {
	BSN       string `json:"bsn"`
	AuthMode  string `json:"authMode"`
	Status    string `json:"status"`
	BID       string `json:"bid,omitempty"`
	QRContent string `json:"qrContent,omitempty"`
}

// verification checks a name and ID number (0x40, answered at once) or
// starts a portrait check (0x42, finished on the phone; poll query).
func (s *Sim) verification(o org, raw json.RawMessage) (any, error) {
	var req verificationRequest
	if err := decodeBizData(raw, &req); err != nil {
		return nil, err
	}
	if req.BSN == "" || req.AuthMode == "" || req.AuthApplyRetainData == "" {
		return nil, fail(CodeBadParameter)
	}
	plain, err := decryptRetainData(s.platform, req.AuthApplyRetainData)
	if err != nil {
		return nil, fail(CodeBadRetainData)
	}
	var rd retainData
	if err := json.Unmarshal(plain, &rd); err != nil || strings.TrimSpace(rd.Name) == "" || rd.IDNo == "" {
		return nil, fail(CodeBadParameter)
	}
	now := s.env.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, err := s.sessionOfLocked(o, req.BSN)
	if err != nil {
		return nil, err
	}
	switch st := sess.statusLocked(now); {
	case st == StateExpired:
		return nil, fail(CodeExpiredBSN)
	case st != StatePending, sess.authMode != req.AuthMode, sess.authMode == ModeRead:
		return nil, fail(CodeBadState)
	}
	sess.name, sess.idNo = strings.TrimSpace(rd.Name), cnid.Normalize(rd.IDNo)
	resp := verificationResponse{BSN: sess.bsn, AuthMode: sess.authMode}
	// Two factors (0x40) are checked against the population registry; a
	// portrait check (0x42) against the 网证, which is issued from the
	// card's chip, so a name the registry holds differently still passes.
	check := s.env.Citizens.CheckNameID
	if sess.authMode != ModeTwoFactor {
		check = s.env.Citizens.CheckCard
	}
	switch check(sess.name, sess.idNo, now) {
	case citizens.NameIDMatch:
	case citizens.NameIDInvalidID:
		sess.status, sess.result = StateFailed, CodeInvalidID
		return resp, fail(CodeInvalidID)
	default:
		sess.status, sess.result = StateFailed, CodeNameMismatch
		return resp, fail(CodeNameMismatch)
	}
	resp.BID = s.bid(sess.idNo)
	if sess.authMode == ModeTwoFactor {
		sess.status, sess.result = StatePassed, CodeOK
		resp.Status = StatePassed
		s.log.Info("ctid two-factor passed", "org_code", o.OrgCode, "id_number", cnid.MaskID(sess.idNo))
		return resp, nil
	}
	sess.status = StateVerifying
	resp.Status, resp.QRContent = StateVerifying, s.qrContent(sess.bsn)
	return resp, nil
}

// sweepLocked forgets sessions and codes long finished.
func (s *Sim) sweepLocked(now time.Time) {
	if now.Sub(s.lastSweep) < time.Minute {
		return
	}
	s.lastSweep = now
	old := now.Add(-time.Hour)
	for k, sess := range s.sessions {
		if sess.expires.Before(old) {
			delete(s.sessions, k)
		}
	}
	for k, c := range s.codes {
		if c.expires.Before(old) {
			delete(s.codes, k)
		}
	}
}

// seedNum reads the first 16 bits of a hex seed.
func seedNum(seed string) int {
	n, _ := strconv.ParseUint(seed[:4], 16, 32)
	return int(n)
}

func newBSN() string {
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}

func randomB64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

type landingPage struct {
	BSN      string
	PhoneURL string
}

// appPage is what opening the QR content shows: a pointer to the phone.
func (s *Sim) appPage(w http.ResponseWriter, r *http.Request) {
	bsn := r.URL.Query().Get("bsn")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := s.pages.ExecuteTemplate(w, "app.html.tmpl", landingPage{
		BSN: bsn, PhoneURL: s.env.PublicURL + "/phone/?qr=" + url.QueryEscape(s.qrContent(bsn)),
	}); err != nil {
		s.log.Error("ctid page", "error", err)
	}
}
