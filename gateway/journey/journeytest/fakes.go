// Package journeytest holds in-process fakes of the identity providers
// (scan login, name/ID check, face verification, SMS) that tests drive
// by hand, and a Harness that runs the whole set of journeys over a real
// SQLite store behind an httptest server, with a browser that keeps
// cookies. The journeys' own handler tests use it, and so can end-to-end
// and load tests.
package journeytest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"net/url"
	"sync"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk"
)

// Person is a fictional candidate (the ID numbers are valid GB 11643
// numbers from the sandbox registry and belong to no one).
type Person struct {
	Name     string
	IDNumber string
	Phone    string
	// RegistryName is the name the population registry holds when it
	// differs from the card: the name/ID check fails for Name.
	RegistryName string
}

// People used by the tests.
var (
	ZhangWei = Person{Name: "张伟", IDNumber: "430102199503141235", Phone: "13800001001"}
	LiNa     = Person{Name: "李娜", IDNumber: "430103199708222465", Phone: "13800001002"}
	WangFang = Person{Name: "王芳", IDNumber: "430104199601053880", Phone: "13800001003"}
	LiuYang  = Person{Name: "刘洋", IDNumber: "430202199807300114", Phone: "13800001004"}
	// LiuYan's name has a rare character; the registry holds 刘岩.
	LiuYan = Person{Name: "刘䶮", IDNumber: "430105199606181554", Phone: "13800001035", RegistryName: "刘岩"}
)

// subject is a stable fake subject of a person at a provider.
func subject(provider, idNumber string) string {
	sum := sha256.Sum256([]byte(provider + "\x00" + idNumber))
	return provider + "-" + hex.EncodeToString(sum[:8])
}

// Identity is the identity a provider returns for p: WeChat knows only
// its subjects; Alipay vouches for name and number at name_id; CTID reads
// them from the card's chip.
func (p Person) Identity(provider string) sdk.Identity {
	id := sdk.Identity{Subject: subject(provider, p.IDNumber), DisplayName: p.Name, Reference: "ref-" + provider}
	switch provider {
	case "wechat":
		id.SubjectIDs = map[string]string{"unionid": id.Subject, "openid": "o" + id.Subject}
	case "alipay":
		id.SubjectIDs = map[string]string{"user_id": id.Subject}
		id.Name, id.IDNumber, id.Level = p.Name, p.IDNumber, sdk.LevelNameID
	case "ctid":
		id.Name, id.IDNumber, id.Level = p.Name, p.IDNumber, sdk.LevelCTID
	}
	return id
}

// calls counts calls by method.
type calls struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *calls) add(method string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[method]++
}

// Calls returns how many times method was called.
func (c *calls) Calls(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[method]
}

// failures queues errors that the next calls of a method return.
type failures struct {
	mu sync.Mutex
	q  map[string][]error
}

// FailNext makes the next call of method return err.
func (f *failures) FailNext(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.q == nil {
		f.q = map[string][]error{}
	}
	f.q[method] = append(f.q[method], err)
}

func (f *failures) take(method string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.q[method]
	if len(q) == 0 {
		return nil
	}
	f.q[method] = q[1:]
	return q[0]
}

func token(prefix string) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return prefix + hex.EncodeToString(b)
}

// ScanVendor is a fake scan-login vendor. Tests scan, confirm, cancel,
// expire and forget its QR sessions; it answers CodeReused to a second
// exchange of a code and UUIDInvalid for sessions it does not know.
type ScanVendor struct {
	calls
	failures
	name string
	now  func() time.Time
	// TTL is the lifetime of a QR session.
	TTL time.Duration

	mu       sync.Mutex
	sessions map[string]*scanSession
	order    []string
	codes    map[string]*code
}

type scanSession struct {
	ScanInfo
	state     sdk.ScanState
	code      string
	forgotten bool
}

// ScanInfo describes a QR session the fake issued.
type ScanInfo struct {
	UUID, QR, State, CallbackURL string
	ExpiresAt                    time.Time
}

type code struct {
	uuid     string
	identity sdk.Identity
	used     bool
}

// NewScanVendor returns a fake vendor called name.
func NewScanVendor(name string, now func() time.Time) *ScanVendor {
	return &ScanVendor{name: name, now: now, TTL: 5 * time.Minute, sessions: map[string]*scanSession{}, codes: map[string]*code{}}
}

var _ sdk.ScanLogin = (*ScanVendor)(nil)

// BeginScan implements sdk.ScanLogin.
func (v *ScanVendor) BeginScan(_ context.Context, req sdk.BeginScanRequest) (sdk.ScanSession, error) {
	v.add("BeginScan")
	if err := v.take("BeginScan"); err != nil {
		return sdk.ScanSession{}, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	uuid := token(v.name + "-")
	s := &scanSession{ScanInfo: ScanInfo{UUID: uuid, QR: "https://open.fake-" + v.name + ".test/qr/" + uuid, State: req.State,
		CallbackURL: req.CallbackURL, ExpiresAt: v.now().Add(v.TTL)}, state: sdk.ScanWaiting}
	v.sessions[uuid] = s
	v.order = append(v.order, uuid)
	return sdk.ScanSession{UUID: uuid, QRContent: s.QR, ExpiresAt: s.ExpiresAt}, nil
}

// session returns a live session, or UUIDInvalid.
func (v *ScanVendor) session(uuid string) (*scanSession, error) {
	s := v.sessions[uuid]
	if s == nil || s.forgotten {
		return nil, sdk.Vendor(sdk.UUIDInvalid, "40029", "unknown QR session")
	}
	return s, nil
}

// PollScan implements sdk.ScanLogin.
func (v *ScanVendor) PollScan(_ context.Context, uuid string) (sdk.ScanStatus, error) {
	v.add("PollScan")
	if err := v.take("PollScan"); err != nil {
		return sdk.ScanStatus{}, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	s, err := v.session(uuid)
	if err != nil {
		return sdk.ScanStatus{}, err
	}
	if s.state == sdk.ScanWaiting && !v.now().Before(s.ExpiresAt) {
		return sdk.ScanStatus{State: sdk.ScanExpired}, nil
	}
	return sdk.ScanStatus{State: s.state, Code: s.code}, nil
}

// ScanCallback implements sdk.ScanLogin: "code" or "auth_code" confirms,
// "cancel=1" cancels.
func (v *ScanVendor) ScanCallback(_ context.Context, uuid string, query map[string]string) (sdk.ScanStatus, error) {
	v.add("ScanCallback")
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, err := v.session(uuid); err != nil {
		return sdk.ScanStatus{}, err
	}
	c := query["code"]
	if c == "" {
		c = query["auth_code"]
	}
	switch {
	case c != "":
		return sdk.ScanStatus{State: sdk.ScanConfirmed, Code: c}, nil
	case query["cancel"] == "1":
		return sdk.ScanStatus{State: sdk.ScanCancelled}, nil
	}
	return sdk.ScanStatus{}, sdk.E(sdk.InvalidRequest, "callback without code")
}

// ExchangeCode implements sdk.ScanLogin.
func (v *ScanVendor) ExchangeCode(_ context.Context, uuid, c string) (sdk.Identity, error) {
	v.add("ExchangeCode")
	v.mu.Lock()
	defer v.mu.Unlock()
	rec := v.codes[c]
	if err := v.take("ExchangeCode"); err != nil {
		if rec != nil {
			rec.used = true
		}
		return sdk.Identity{}, err
	}
	switch {
	case rec == nil || rec.uuid != uuid:
		return sdk.Identity{}, sdk.Vendor(sdk.CodeInvalid, "40029", "invalid code")
	case rec.used:
		return sdk.Identity{}, sdk.Vendor(sdk.CodeReused, "40163", "code been used")
	}
	rec.used = true
	return rec.identity, nil
}

// Latest returns the newest QR session.
func (v *ScanVendor) Latest() (ScanInfo, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.order) == 0 {
		return ScanInfo{}, false
	}
	return v.sessions[v.order[len(v.order)-1]].ScanInfo, true
}

// ByQR returns the session a QR content belongs to.
func (v *ScanVendor) ByQR(qr string) (ScanInfo, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, s := range v.sessions {
		if s.QR == qr {
			return s.ScanInfo, true
		}
	}
	return ScanInfo{}, false
}

// Count is how many QR sessions the fake issued.
func (v *ScanVendor) Count() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.order)
}

func (v *ScanVendor) set(uuid string, f func(*scanSession)) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	s, ok := v.sessions[uuid]
	if !ok {
		return fmt.Errorf("journeytest: no QR session %s", uuid)
	}
	f(s)
	return nil
}

// Scan marks the session scanned on the phone.
func (v *ScanVendor) Scan(uuid string) error {
	return v.set(uuid, func(s *scanSession) { s.state = sdk.ScanScanned })
}

// Confirm confirms the session on the phone as id and returns the code.
func (v *ScanVendor) Confirm(uuid string, id sdk.Identity) (string, error) {
	c := token("code-")
	err := v.set(uuid, func(s *scanSession) {
		s.state, s.code = sdk.ScanConfirmed, c
		v.codes[c] = &code{uuid: uuid, identity: id}
	})
	return c, err
}

// Cancel cancels the session on the phone.
func (v *ScanVendor) Cancel(uuid string) error {
	return v.set(uuid, func(s *scanSession) { s.state = sdk.ScanCancelled })
}

// Expire makes the session expired.
func (v *ScanVendor) Expire(uuid string) error {
	return v.set(uuid, func(s *scanSession) { s.state = sdk.ScanExpired })
}

// Forget makes the vendor not know the session: UUIDInvalid from then on.
func (v *ScanVendor) Forget(uuid string) error {
	return v.set(uuid, func(s *scanSession) { s.forgotten = true })
}

// CallbackQuery is the query the vendor's redirect after a confirmation
// carries: the code and the state.
func (v *ScanVendor) CallbackQuery(uuid, code string) (url.Values, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	s, ok := v.sessions[uuid]
	if !ok {
		return nil, fmt.Errorf("journeytest: no QR session %s", uuid)
	}
	return url.Values{"code": {code}, "state": {s.State}}, nil
}

// IdentityChecker is a fake name/ID (二要素) vendor: a person whose
// RegistryName differs from the typed name mismatches.
type IdentityChecker struct {
	calls
	failures
	mu       sync.Mutex
	registry map[string]string
	n        int
}

var _ sdk.IdentityChecker = (*IdentityChecker)(nil)

// NewIdentityChecker returns a checker knowing people; numbers it does
// not know match any name.
func NewIdentityChecker(people ...Person) *IdentityChecker {
	c := &IdentityChecker{registry: map[string]string{}}
	for _, p := range people {
		c.Add(p)
	}
	return c
}

// Add registers a person under their registry name.
func (c *IdentityChecker) Add(p Person) {
	c.mu.Lock()
	defer c.mu.Unlock()
	name := p.RegistryName
	if name == "" {
		name = p.Name
	}
	c.registry[p.IDNumber] = name
}

// CheckIdentity implements sdk.IdentityChecker.
func (c *IdentityChecker) CheckIdentity(_ context.Context, name, idNumber string) (string, error) {
	c.add("CheckIdentity")
	if err := c.take("CheckIdentity"); err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if want, ok := c.registry[idNumber]; ok && want != name {
		return "", sdk.Vendor(sdk.NameIDMismatch, "2", "name and number do not match")
	}
	c.n++
	return fmt.Sprintf("idc-%d", c.n), nil
}

// FaceVendor is a fake face-verification vendor: verifications stay
// pending until the test passes, fails, cancels or expires them (or
// AutoPass passes them at once).
type FaceVendor struct {
	calls
	failures
	now func() time.Time
	// AutoPass passes every verification at its first query.
	AutoPass bool

	mu       sync.Mutex
	sessions map[string]*faceSession
	order    []string
}

type faceSession struct {
	FaceInfo
	status sdk.FaceStatus
	err    error
}

// FaceInfo describes a face verification the fake began.
type FaceInfo struct {
	CertifyID, QR string
	Request       sdk.FaceRequest
}

var _ sdk.FaceVerifier = (*FaceVendor)(nil)

// NewFaceVendor returns a fake face vendor.
func NewFaceVendor(now func() time.Time) *FaceVendor {
	return &FaceVendor{now: now, sessions: map[string]*faceSession{}}
}

// BeginFace implements sdk.FaceVerifier.
func (f *FaceVendor) BeginFace(_ context.Context, req sdk.FaceRequest) (sdk.FaceSession, error) {
	f.add("BeginFace")
	if err := f.take("BeginFace"); err != nil {
		return sdk.FaceSession{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	id := token("face-")
	s := &faceSession{FaceInfo: FaceInfo{CertifyID: id, QR: "https://face.fake.test/verify/" + id, Request: req},
		status: sdk.FaceStatus{Result: sdk.FacePending}}
	f.sessions[id] = s
	f.order = append(f.order, id)
	return sdk.FaceSession{CertifyID: id, QRContent: s.QR, ExpiresAt: f.now().Add(10 * time.Minute)}, nil
}

// QueryFace implements sdk.FaceVerifier.
func (f *FaceVendor) QueryFace(_ context.Context, certifyID string) (sdk.FaceStatus, error) {
	f.add("QueryFace")
	if err := f.take("QueryFace"); err != nil {
		return sdk.FaceStatus{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.sessions[certifyID]
	if s == nil {
		return sdk.FaceStatus{}, sdk.E(sdk.UUIDInvalid, "unknown certify id")
	}
	if s.err != nil {
		return sdk.FaceStatus{}, s.err
	}
	if f.AutoPass && s.status.Result == sdk.FacePending {
		s.status = sdk.FaceStatus{Result: sdk.FacePassed, Reference: "face-ref-" + certifyID}
	}
	return s.status, nil
}

// Latest returns the newest verification.
func (f *FaceVendor) Latest() (FaceInfo, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.order) == 0 {
		return FaceInfo{}, false
	}
	return f.sessions[f.order[len(f.order)-1]].FaceInfo, true
}

// Count is how many verifications the fake began.
func (f *FaceVendor) Count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.order)
}

func (f *FaceVendor) set(id string, st sdk.FaceStatus, err error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sessions[id]
	if !ok {
		return fmt.Errorf("journeytest: no face verification %s", id)
	}
	s.status, s.err = st, err
	return nil
}

// Pass passes a verification.
func (f *FaceVendor) Pass(certifyID string) error {
	return f.set(certifyID, sdk.FaceStatus{Result: sdk.FacePassed, Reference: "face-ref-" + certifyID}, nil)
}

// Fail fails a verification for reason (FaceMismatch, LivenessFailed,
// Cancelled, Expired).
func (f *FaceVendor) Fail(certifyID string, reason sdk.Kind) error {
	return f.set(certifyID, sdk.FaceStatus{Result: sdk.FaceFailed, Reason: reason, VendorCode: reason.String()}, nil)
}

// Expire makes the vendor answer Expired for a verification.
func (f *FaceVendor) Expire(certifyID string) error {
	return f.set(certifyID, sdk.FaceStatus{}, sdk.E(sdk.Expired, "certify id expired"))
}

// SMS is a fake SMS vendor whose sent codes and notices tests read.
type SMS struct {
	calls
	failures
	now     func() time.Time
	mu      sync.Mutex
	sent    []SentCode   // in order
	notices []SentNotice // in order
}

// SentNotice is one notice the fake sent.
type SentNotice struct {
	Phone  string
	Notice sdk.Notice
}

// SentCode is one code the fake sent.
type SentCode struct {
	Phone, Purpose, Code, Ticket string
	ExpiresAt                    time.Time
	used                         bool
}

var (
	_ sdk.PhoneVerifier = (*SMS)(nil)
	_ sdk.PhoneNotifier = (*SMS)(nil)
)

// NewSMS returns a fake SMS vendor.
func NewSMS(now func() time.Time) *SMS {
	return &SMS{now: now}
}

// SendCode implements sdk.PhoneVerifier.
func (s *SMS) SendCode(_ context.Context, phone, purpose string) (sdk.CodeTicket, error) {
	s.add("SendCode")
	if err := s.take("SendCode"); err != nil {
		return sdk.CodeTicket{}, err
	}
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return sdk.CodeTicket{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := SentCode{Phone: phone, Purpose: purpose, Code: fmt.Sprintf("%06d", n.Int64()), Ticket: token("t-"), ExpiresAt: s.now().Add(10 * time.Minute)}
	s.sent = append(s.sent, c)
	return sdk.CodeTicket{Ticket: c.Ticket, ExpiresAt: c.ExpiresAt}, nil
}

// VerifyCode implements sdk.PhoneVerifier.
func (s *SMS) VerifyCode(_ context.Context, ticket, phone, purpose, code string) error {
	s.add("VerifyCode")
	if err := s.take("VerifyCode"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var c *SentCode
	for i := range s.sent {
		if s.sent[i].Ticket == ticket {
			c = &s.sent[i]
		}
	}
	switch {
	case c == nil || c.Phone != phone || c.Purpose != purpose:
		return sdk.E(sdk.InvalidRequest, "ticket for another phone or purpose")
	case !s.now().Before(c.ExpiresAt):
		return sdk.E(sdk.Expired, "code expired")
	case c.used || c.Code != code:
		return sdk.E(sdk.CodeInvalid, "wrong code")
	}
	c.used = true
	return nil
}

// SendNotice implements sdk.PhoneNotifier. FailNext("SendNotice", err)
// makes it fail (sdk.NotSupported as a provider without phone_notice
// answers).
func (s *SMS) SendNotice(_ context.Context, phone string, n sdk.Notice) error {
	s.add("SendNotice")
	if err := s.take("SendNotice"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notices = append(s.notices, SentNotice{Phone: phone, Notice: sdk.Notice{Kind: n.Kind, Params: maps.Clone(n.Params)}})
	return nil
}

// Notices returns the notices sent to phone ("" for all), in order.
func (s *SMS) Notices(phone string) []SentNotice {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []SentNotice
	for _, n := range s.notices {
		if phone == "" || n.Phone == phone {
			out = append(out, n)
		}
	}
	return out
}

// LastCode returns the newest code sent to phone.
func (s *SMS) LastCode(phone string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.sent) - 1; i >= 0; i-- {
		if s.sent[i].Phone == phone {
			return s.sent[i].Code, true
		}
	}
	return "", false
}

// Sent returns how many codes were sent to phone ("" for all).
func (s *SMS) Sent(phone string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.sent {
		if phone == "" || c.Phone == phone {
			n++
		}
	}
	return n
}

// Providers gives the fakes by name, as the plugin host gives plugins.
type Providers struct {
	Scan     map[string]*ScanVendor
	Identity map[string]*IdentityChecker
	Face     map[string]*FaceVendor
	SMS      map[string]*SMS

	mu   sync.Mutex
	down map[string]bool
}

// ErrUnknown is returned for a provider name the fakes do not have or
// that is down.
var ErrUnknown = errors.New("journeytest: no such provider")

// SetDown makes a provider unavailable (or available again).
func (p *Providers) SetDown(name string, down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down == nil {
		p.down = map[string]bool{}
	}
	p.down[name] = down
}

func (p *Providers) isDown(name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.down[name]
}

func get[T any](p *Providers, m map[string]T, name string) (T, error) {
	v, ok := m[name]
	if !ok || p.isDown(name) {
		var zero T
		return zero, fmt.Errorf("%w: %s", ErrUnknown, name)
	}
	return v, nil
}

// ScanLogin returns the scan vendor called name.
func (p *Providers) ScanLogin(name string) (sdk.ScanLogin, error) { return get(p, p.Scan, name) }

// IdentityChecker returns the name/ID checker called name.
func (p *Providers) IdentityChecker(name string) (sdk.IdentityChecker, error) {
	return get(p, p.Identity, name)
}

// FaceVerifier returns the face vendor called name.
func (p *Providers) FaceVerifier(name string) (sdk.FaceVerifier, error) { return get(p, p.Face, name) }

// PhoneVerifier returns the SMS vendor called name.
func (p *Providers) PhoneVerifier(name string) (sdk.PhoneVerifier, error) { return get(p, p.SMS, name) }

// PhoneNotifier returns the SMS vendor called name.
func (p *Providers) PhoneNotifier(name string) (sdk.PhoneNotifier, error) { return get(p, p.SMS, name) }

// NewProviders returns fakes under the names of the default
// configuration: scan vendors wechat, alipay and ctid; the name/ID
// checker ctid (knowing people); face vendors wechat, alipay and ctid;
// SMS vendor sms.
func NewProviders(now func() time.Time, people ...Person) *Providers {
	return &Providers{
		Scan: map[string]*ScanVendor{
			"wechat": NewScanVendor("wechat", now), "alipay": NewScanVendor("alipay", now), "ctid": NewScanVendor("ctid", now),
		},
		Identity: map[string]*IdentityChecker{"ctid": NewIdentityChecker(people...)},
		Face: map[string]*FaceVendor{
			"wechat": NewFaceVendor(now), "alipay": NewFaceVendor(now), "ctid": NewFaceVendor(now),
		},
		SMS: map[string]*SMS{"sms": NewSMS(now)},
	}
}
