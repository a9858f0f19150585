package sdk

import (
	"context"
	"encoding/json"
	"time"
)

// ProtocolVersion is the version of shiming.provider.v1 this SDK speaks.
const ProtocolVersion = 1

// Capability is something a provider can do.
type Capability int

const (
	CapabilityScanLogin Capability = iota + 1
	CapabilityIdentityCheck
	CapabilityFaceVerification
	CapabilityPhone
	CapabilityPhoneOwner
	CapabilityPhoneNotice
)

var capabilityNames = map[Capability]string{
	CapabilityScanLogin:        "scan_login",
	CapabilityIdentityCheck:    "identity_check",
	CapabilityFaceVerification: "face_verification",
	CapabilityPhone:            "phone",
	CapabilityPhoneOwner:       "phone_owner",
	CapabilityPhoneNotice:      "phone_notice",
}

// String returns the capability in lower snake case.
func (c Capability) String() string {
	if s, ok := capabilityNames[c]; ok {
		return s
	}
	return "unknown"
}

// Capabilities lists every capability, in declaration order.
func Capabilities() []Capability {
	return []Capability{CapabilityScanLogin, CapabilityIdentityCheck, CapabilityFaceVerification, CapabilityPhone, CapabilityPhoneOwner, CapabilityPhoneNotice}
}

// Info describes a provider plugin.
type Info struct {
	Name            string
	Version         string
	ProtocolVersion int
	Capabilities    []Capability
	Description     string
}

// Has reports whether the info declares c.
func (i Info) Has(c Capability) bool {
	for _, x := range i.Capabilities {
		if x == c {
			return true
		}
	}
	return false
}

// Provider is the root every plugin implements.
type Provider interface {
	// Info names the provider and declares its capabilities. It must not
	// depend on configuration.
	Info(ctx context.Context) (Info, error)
	// Configure receives vendor credentials and endpoints as a JSON
	// object. A bad configuration returns an error of kind
	// InvalidConfig whose Fields name every bad field. Configure must not
	// need the vendor to be reachable.
	Configure(ctx context.Context, config json.RawMessage) error
}

// HealthChecker is optionally implemented by providers that can tell
// whether their vendor is reachable. Providers without it are healthy
// while their process answers.
type HealthChecker interface {
	Health(ctx context.Context) (Health, error)
}

// HealthStatus is a provider's own view of its health.
type HealthStatus int

const (
	Serving HealthStatus = iota + 1
	Degraded
	NotServing
)

// Health is the answer of HealthChecker.
type Health struct {
	Status  HealthStatus
	Message string
}

// ScanState is where a QR session stands.
type ScanState int

const (
	ScanWaiting ScanState = iota + 1
	ScanScanned
	ScanConfirmed
	ScanExpired
	ScanCancelled
)

var scanStateNames = map[ScanState]string{
	ScanWaiting: "waiting", ScanScanned: "scanned", ScanConfirmed: "confirmed",
	ScanExpired: "expired", ScanCancelled: "cancelled",
}

func (s ScanState) String() string {
	if n, ok := scanStateNames[s]; ok {
		return n
	}
	return "unknown"
}

// BeginScanRequest starts a QR session.
type BeginScanRequest struct {
	// CallbackURL is where the vendor sends the user's browser after the
	// scan (the redirect_uri of OAuth-style vendors).
	CallbackURL string
	// State is opaque to the provider and echoed to the callback.
	State string
}

// ScanSession is a started QR session.
type ScanSession struct {
	// UUID is the provider's handle for the session: opaque to the host,
	// and recognisable by the provider, which answers UUIDInvalid for a
	// handle it did not issue. A provider may serve several gateway
	// replicas, so a handle must not depend on the provider's memory.
	UUID string
	// QRContent is what the QR code encodes.
	QRContent string
	ExpiresAt time.Time
}

// ScanStatus is the state of a QR session; Code is set when confirmed.
type ScanStatus struct {
	State ScanState
	Code  string
}

// AssuranceLevel is how strongly a vendor vouches for an identity.
type AssuranceLevel int

const (
	LevelPhone  AssuranceLevel = iota + 1 // an SMS-verified phone
	LevelNameID                           // name and ID number matched (二要素)
	LevelFace                             // face with liveness matched the ID photo
	LevelCTID                             // read from the ID card chip (网证)
)

var levelNames = map[AssuranceLevel]string{
	LevelPhone: "phone", LevelNameID: "name_id", LevelFace: "face", LevelCTID: "ctid",
}

func (l AssuranceLevel) String() string {
	if n, ok := levelNames[l]; ok {
		return n
	}
	return "none"
}

// Identity is a person as a vendor knows them.
type Identity struct {
	// Subject is stable at this provider: unionid before openid for
	// WeChat, user_id or open_id for Alipay.
	Subject string
	// SubjectIDs holds every identifier the vendor returned.
	SubjectIDs  map[string]string
	DisplayName string
	// Name, IDNumber and Phone are set when the vendor vouches for them.
	Name     string
	IDNumber string
	Phone    string
	// Level is how strongly the vendor vouches for Name and IDNumber; zero
	// when it does not.
	Level AssuranceLevel
	// Reference is the vendor's serial number for the verification.
	Reference string
}

// ScanLogin is the scan-login capability: a QR code on the desktop,
// scanned and confirmed in the phone app.
type ScanLogin interface {
	BeginScan(ctx context.Context, req BeginScanRequest) (ScanSession, error)
	// PollScan reports the session's state. It is safe to repeat. An
	// unknown, foreign or malformed uuid is UUIDInvalid.
	PollScan(ctx context.Context, uuid string) (ScanStatus, error)
	// ScanCallback interprets the query parameters of the vendor's
	// redirect to the callback URL. It is safe to repeat.
	ScanCallback(ctx context.Context, uuid string, query map[string]string) (ScanStatus, error)
	// ExchangeCode turns a confirmed code into an identity. A code
	// exchanged twice is CodeReused; an unknown or expired one
	// CodeInvalid or Expired.
	ExchangeCode(ctx context.Context, uuid, code string) (Identity, error)
}

// IdentityChecker checks that a name belongs to an ID number (二要素).
// A mismatch is NameIDMismatch. It returns the vendor's reference.
type IdentityChecker interface {
	CheckIdentity(ctx context.Context, name, idNumber string) (reference string, err error)
}

// FaceRequest starts a face verification.
type FaceRequest struct {
	Name     string
	IDNumber string
	// Subject is the provider subject, for vendors that bind face checks
	// to a user (WeChat openid).
	Subject string
	// ReturnURL is where the phone returns after the check.
	ReturnURL string
}

// FaceSession is a started face verification.
type FaceSession struct {
	CertifyID string
	QRContent string
	ExpiresAt time.Time
}

// FaceResult is the state of a face verification.
type FaceResult int

const (
	FacePending FaceResult = iota + 1
	FacePassed
	FaceFailed
)

// FaceStatus answers QueryFace. Reason is set when Result is FaceFailed:
// FaceMismatch, LivenessFailed, Cancelled or Expired.
type FaceStatus struct {
	Result     FaceResult
	Reason     Kind
	VendorCode string
	Reference  string
}

// FaceVerifier runs a face check with liveness on the user's phone.
type FaceVerifier interface {
	BeginFace(ctx context.Context, req FaceRequest) (FaceSession, error)
	// QueryFace is safe to repeat.
	QueryFace(ctx context.Context, certifyID string) (FaceStatus, error)
}

// CodeTicket proves what was sent: it is bound to the phone and purpose
// and presented back to VerifyCode.
type CodeTicket struct {
	Ticket    string
	ExpiresAt time.Time
}

// PhoneVerifier sends one-time codes by SMS and verifies them. A wrong
// code is CodeInvalid; a ticket presented for another phone or purpose is
// InvalidRequest; a late one Expired. The host keeps tickets single-use.
type PhoneVerifier interface {
	SendCode(ctx context.Context, phone, purpose string) (CodeTicket, error)
	VerifyCode(ctx context.Context, ticket, phone, purpose, code string) error
}

// PhoneOwnerChecker checks that a phone number is registered to a person
// (运营商三要素). A mismatch is NameIDMismatch.
type PhoneOwnerChecker interface {
	CheckOwner(ctx context.Context, phone, name, idNumber string) error
}

// Notice kinds. The list only grows; a provider answers InvalidRequest
// for a kind it does not know.
const (
	// NoticePhoneChanged tells the old number of an account that the
	// account's phone was changed. Params: "phone", the new number masked
	// by the caller (cnid.MaskPhone).
	NoticePhoneChanged = "phone_changed"
)

// Notice is a message sent to a phone that asks for nothing back: no
// code, no link. Params are the variables of the kind's text; a notice
// never carries a full phone number other than its destination.
type Notice struct {
	Kind   string
	Params map[string]string
}

// PhoneNotifier sends notices by SMS. A malformed phone, an unknown kind
// or missing params are InvalidRequest; the vendor's refusals keep the
// kinds PhoneVerifier's SendCode gives them.
type PhoneNotifier interface {
	SendNotice(ctx context.Context, phone string, n Notice) error
}
