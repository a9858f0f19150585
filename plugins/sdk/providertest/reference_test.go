package providertest_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
	"github.com/shiming-id/shiming/plugins/sdk/providertest"
)

// vendor is an in-memory vendor with every capability, and the phone
// that acts on it. ref is the provider in front of it. Together they are
// the kit's own proof that a correct provider passes.
type vendor struct {
	mu       sync.Mutex
	slow     chan struct{} // while open, every vendor call waits
	sessions map[string]*scanSession
	byQR     map[string]string
	faces    map[string]*faceSession
	sms      map[string]string
	texts    map[string]string // the newest message to each phone
	tickets  map[string]ticket
	people   providertest.People
}

type scanSession struct {
	app     string
	state   sdk.ScanState
	code    string
	spent   bool
	expires time.Time
}

type faceSession struct {
	person providertest.Person
	result sdk.FaceResult
}

type ticket struct{ phone, purpose, code string }

func newVendor() *vendor {
	return &vendor{
		sessions: map[string]*scanSession{},
		byQR:     map[string]string{},
		faces:    map[string]*faceSession{},
		sms:      map[string]string{},
		texts:    map[string]string{},
		tickets:  map[string]ticket{},
		people: providertest.People{
			Match:    providertest.Person{Name: "张三", IDNumber: "11010519491231002X", Phone: "13800138000"},
			Mismatch: providertest.Person{Name: "李四", IDNumber: "11010519491231002X"},
			FaceFail: providertest.Person{Name: "王五", IDNumber: "440524188001010014"},
		},
	}
}

func token() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// wait holds a vendor call while the vendor is slow.
func (v *vendor) wait(ctx context.Context) error {
	v.mu.Lock()
	slow := v.slow
	v.mu.Unlock()
	if slow == nil {
		return nil
	}
	select {
	case <-slow:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (v *vendor) makeSlow() func() {
	v.mu.Lock()
	defer v.mu.Unlock()
	ch := make(chan struct{})
	v.slow = ch
	return func() {
		v.mu.Lock()
		defer v.mu.Unlock()
		close(ch)
		v.slow = nil
	}
}

func (v *vendor) byQRLocked(qr string) (*scanSession, error) {
	s, ok := v.sessions[v.byQR[qr]]
	if !ok {
		return nil, errors.New("vendor: no such QR")
	}
	return s, nil
}

// The phone.

func (v *vendor) Scan(_ context.Context, qr string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	s, err := v.byQRLocked(qr)
	if err == nil {
		s.state = sdk.ScanScanned
	}
	return err
}

func (v *vendor) Approve(_ context.Context, qr string) (map[string]string, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	s, err := v.byQRLocked(qr)
	if err == nil {
		s.state, s.code = sdk.ScanConfirmed, "code-"+token()
	}
	return nil, err
}

func (v *vendor) Cancel(_ context.Context, qr string) (map[string]string, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	s, err := v.byQRLocked(qr)
	if err == nil {
		s.state = sdk.ScanCancelled
	}
	return nil, err
}

func (v *vendor) Expire(_ context.Context, qr string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	s, err := v.byQRLocked(qr)
	if err == nil {
		s.expires = time.Now().Add(-time.Second)
	}
	return err
}

func (v *vendor) Face(_ context.Context, qr string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	f, ok := v.faces[strings.TrimPrefix(qr, "face:")]
	if !ok {
		return errors.New("vendor: no such face session")
	}
	f.result = sdk.FacePassed
	if f.person.Name == v.people.FaceFail.Name {
		f.result = sdk.FaceFailed
	}
	return nil
}

func (v *vendor) SMSCode(_ context.Context, phone string) (string, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	c, ok := v.sms[phone]
	if !ok {
		return "", errors.New("vendor: no SMS to " + phone)
	}
	return c, nil
}

func (v *vendor) SMSText(_ context.Context, phone string) (string, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	text, ok := v.texts[phone]
	if !ok {
		return "", errors.New("vendor: no SMS to " + phone)
	}
	return text, nil
}

// ref is the reference provider.
type ref struct {
	v *vendor
	// reuseBug lets a code be exchanged twice, for the test that the kit
	// catches a broken provider.
	reuseBug bool

	mu  sync.Mutex
	app string
}

func (p *ref) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "reference", Version: "1.0.0", Capabilities: sdk.Capabilities()}, nil
}

func (p *ref) Configure(_ context.Context, raw json.RawMessage) error {
	var c struct {
		App string `json:"app"`
	}
	if err := json.Unmarshal(raw, &c); err != nil || c.App == "" || strings.Contains(c.App, ".") {
		return sdk.Fields(sdk.InvalidConfig, "app is required, without dots", "app")
	}
	p.mu.Lock()
	p.app = c.App
	p.mu.Unlock()
	return nil
}

func (p *ref) appID() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.app
}

func (p *ref) BeginScan(ctx context.Context, _ sdk.BeginScanRequest) (sdk.ScanSession, error) {
	if err := p.v.wait(ctx); err != nil {
		return sdk.ScanSession{}, err
	}
	uuid, qr := p.appID()+"."+token(), "https://vendor.example/qr/"+token()
	exp := time.Now().Add(2 * time.Minute)
	p.v.mu.Lock()
	defer p.v.mu.Unlock()
	p.v.sessions[uuid] = &scanSession{app: p.appID(), state: sdk.ScanWaiting, expires: exp}
	p.v.byQR[qr] = uuid
	return sdk.ScanSession{UUID: uuid, QRContent: qr, ExpiresAt: exp}, nil
}

func (p *ref) session(uuid string) (*scanSession, error) {
	app, _, ok := strings.Cut(uuid, ".")
	s, found := p.v.sessions[uuid]
	if !ok || app != p.appID() || !found {
		return nil, sdk.E(sdk.UUIDInvalid, "unknown session")
	}
	return s, nil
}

func (p *ref) PollScan(ctx context.Context, uuid string) (sdk.ScanStatus, error) {
	if err := p.v.wait(ctx); err != nil {
		return sdk.ScanStatus{}, err
	}
	p.v.mu.Lock()
	defer p.v.mu.Unlock()
	s, err := p.session(uuid)
	if err != nil {
		return sdk.ScanStatus{}, err
	}
	if time.Now().After(s.expires) && s.state != sdk.ScanConfirmed {
		return sdk.ScanStatus{State: sdk.ScanExpired}, nil
	}
	return sdk.ScanStatus{State: s.state, Code: s.code}, nil
}

func (p *ref) ScanCallback(ctx context.Context, uuid string, _ map[string]string) (sdk.ScanStatus, error) {
	return p.PollScan(ctx, uuid)
}

func (p *ref) ExchangeCode(ctx context.Context, uuid, code string) (sdk.Identity, error) {
	if err := p.v.wait(ctx); err != nil {
		return sdk.Identity{}, err
	}
	p.v.mu.Lock()
	defer p.v.mu.Unlock()
	s, err := p.session(uuid)
	if err != nil {
		return sdk.Identity{}, err
	}
	switch {
	case s.code == "" || code != s.code:
		return sdk.Identity{}, sdk.E(sdk.CodeInvalid, "unknown code")
	case s.spent && !p.reuseBug:
		return sdk.Identity{}, sdk.Vendor(sdk.CodeReused, "40163", "code been used")
	}
	s.spent = true
	m := p.v.people.Match
	return sdk.Identity{Subject: "sub-" + cnid.MaskID(m.IDNumber), Name: m.Name, IDNumber: m.IDNumber, Level: sdk.LevelNameID}, nil
}

func (p *ref) CheckIdentity(ctx context.Context, name, idNumber string) (string, error) {
	if err := p.v.wait(ctx); err != nil {
		return "", err
	}
	for _, x := range []providertest.Person{p.v.people.Match, p.v.people.FaceFail} {
		if x.Name == name && x.IDNumber == idNumber {
			return "ref-" + token(), nil
		}
	}
	return "", sdk.Vendor(sdk.NameIDMismatch, "2", "name and ID number do not match")
}

func (p *ref) BeginFace(ctx context.Context, req sdk.FaceRequest) (sdk.FaceSession, error) {
	if err := p.v.wait(ctx); err != nil {
		return sdk.FaceSession{}, err
	}
	id := token()
	p.v.mu.Lock()
	defer p.v.mu.Unlock()
	p.v.faces[id] = &faceSession{person: providertest.Person{Name: req.Name, IDNumber: req.IDNumber}, result: sdk.FacePending}
	return sdk.FaceSession{CertifyID: id, QRContent: "face:" + id}, nil
}

func (p *ref) QueryFace(ctx context.Context, id string) (sdk.FaceStatus, error) {
	if err := p.v.wait(ctx); err != nil {
		return sdk.FaceStatus{}, err
	}
	p.v.mu.Lock()
	defer p.v.mu.Unlock()
	f, ok := p.v.faces[id]
	if !ok {
		return sdk.FaceStatus{}, sdk.E(sdk.InvalidRequest, "unknown certify id")
	}
	st := sdk.FaceStatus{Result: f.result}
	if f.result == sdk.FaceFailed {
		st.Reason = sdk.FaceMismatch
	}
	return st, nil
}

func (p *ref) SendCode(ctx context.Context, phone, purpose string) (sdk.CodeTicket, error) {
	if err := p.v.wait(ctx); err != nil {
		return sdk.CodeTicket{}, err
	}
	if !cnid.ValidPhone(phone) {
		return sdk.CodeTicket{}, sdk.Fields(sdk.InvalidRequest, "bad phone", "phone")
	}
	code, tk := token()[:6], token()
	p.v.mu.Lock()
	defer p.v.mu.Unlock()
	p.v.sms[phone] = code
	p.v.texts[phone] = "code " + code
	p.v.tickets[tk] = ticket{phone: phone, purpose: purpose, code: code}
	return sdk.CodeTicket{Ticket: tk, ExpiresAt: time.Now().Add(5 * time.Minute)}, nil
}

func (p *ref) VerifyCode(ctx context.Context, tk, phone, purpose, code string) error {
	if err := p.v.wait(ctx); err != nil {
		return err
	}
	p.v.mu.Lock()
	defer p.v.mu.Unlock()
	t, ok := p.v.tickets[tk]
	switch {
	case !ok || t.phone != phone || t.purpose != purpose:
		return sdk.E(sdk.InvalidRequest, "ticket for another phone or purpose")
	case t.code != code:
		return sdk.E(sdk.CodeInvalid, "wrong code")
	}
	return nil
}

func (p *ref) CheckOwner(ctx context.Context, phone, name, idNumber string) error {
	if err := p.v.wait(ctx); err != nil {
		return err
	}
	m := p.v.people.Match
	if phone != m.Phone || name != m.Name || idNumber != m.IDNumber {
		return sdk.Vendor(sdk.NameIDMismatch, "owner", "phone not registered to this person")
	}
	return nil
}

func (p *ref) SendNotice(ctx context.Context, phone string, n sdk.Notice) error {
	if err := p.v.wait(ctx); err != nil {
		return err
	}
	var bad []string
	if !cnid.ValidPhone(phone) {
		bad = append(bad, "phone")
	}
	if n.Kind != sdk.NoticePhoneChanged {
		bad = append(bad, "kind")
	} else if n.Params["phone"] == "" {
		bad = append(bad, "params")
	}
	if len(bad) > 0 {
		return sdk.Fields(sdk.InvalidRequest, "bad notice", bad...)
	}
	p.v.mu.Lock()
	defer p.v.mu.Unlock()
	p.v.texts[phone] = "phone changed to " + n.Params["phone"]
	return nil
}

var (
	_ providertest.Phone     = (*vendor)(nil)
	_ providertest.SMSReader = (*vendor)(nil)
	_ sdk.ScanLogin          = (*ref)(nil)
	_ sdk.IdentityChecker    = (*ref)(nil)
	_ sdk.FaceVerifier       = (*ref)(nil)
	_ sdk.PhoneVerifier      = (*ref)(nil)
	_ sdk.PhoneOwnerChecker  = (*ref)(nil)
	_ sdk.PhoneNotifier      = (*ref)(nil)
)
