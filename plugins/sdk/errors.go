package sdk

import (
	"errors"
	"strings"
)

// Kind classifies an error so that the host can act on it and count it.
// Kinds cross the process boundary as ErrorKind in a gRPC status detail,
// never as strings. The list is append-only; the numbers match the proto.
type Kind int

const (
	KindUnknown       Kind = iota
	CodeReused             // jsCode被使用: a one-time code was already exchanged
	UUIDInvalid            // UUID非法: an unknown, foreign or stale QR session
	NameIDMismatch         // 姓名和身份证号码不匹配
	FaceMismatch           // the face does not match the ID photo
	LivenessFailed         // no live person in front of the camera
	Expired                // a session, code or ticket ran out of time
	Cancelled              // the user cancelled on the phone
	RateLimited            // the vendor asked us to slow down
	VendorUnavailable      // the vendor or the plugin cannot be reached
	InvalidConfig          // the plugin's configuration is wrong
	InvalidRequest         // the request is malformed
	NotSupported           // the capability or call is not offered
	Internal               // a bug, or a panic inside the plugin
	CodeInvalid            // a wrong or unknown one-time code
)

var kindNames = [...]string{
	KindUnknown:       "unknown",
	CodeReused:        "code_reused",
	UUIDInvalid:       "uuid_invalid",
	NameIDMismatch:    "name_id_mismatch",
	FaceMismatch:      "face_mismatch",
	LivenessFailed:    "liveness_failed",
	Expired:           "expired",
	Cancelled:         "cancelled",
	RateLimited:       "rate_limited",
	VendorUnavailable: "vendor_unavailable",
	InvalidConfig:     "invalid_config",
	InvalidRequest:    "invalid_request",
	NotSupported:      "not_supported",
	Internal:          "internal",
	CodeInvalid:       "code_invalid",
}

// String returns the kind in lower snake case, the form used as a metric
// label value.
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Kinds lists every known kind except KindUnknown, in order.
func Kinds() []Kind {
	ks := make([]Kind, 0, len(kindNames)-1)
	for k := CodeReused; int(k) < len(kindNames); k++ {
		ks = append(ks, k)
	}
	return ks
}

// Error is a classified provider error. Message is for logs: it must not
// contain codes, tokens or personal data.
type Error struct {
	Kind Kind
	// VendorCode is the vendor's own code (errcode, sub_code), kept for logs.
	VendorCode string
	// Fields names the request or configuration fields at fault.
	Fields  []string
	Message string
	// Err is the underlying cause, if any; it does not cross the wire.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Kind.String())
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if len(e.Fields) > 0 {
		b.WriteString(" (fields: ")
		b.WriteString(strings.Join(e.Fields, ", "))
		b.WriteString(")")
	}
	if e.VendorCode != "" {
		b.WriteString(" [vendor code ")
		b.WriteString(e.VendorCode)
		b.WriteString("]")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches another *Error by kind, so errors.Is(err, sdk.E(sdk.CodeReused, ""))
// works; prefer KindOf.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Kind == e.Kind && t.VendorCode == "" && t.Message == ""
}

// E returns an error of the given kind with a log message.
func E(kind Kind, message string) *Error {
	return &Error{Kind: kind, Message: message}
}

// Vendor returns an error of the given kind carrying the vendor's code.
func Vendor(kind Kind, vendorCode, message string) *Error {
	return &Error{Kind: kind, VendorCode: vendorCode, Message: message}
}

// Fields returns an InvalidConfig or InvalidRequest error naming fields.
func Fields(kind Kind, message string, fields ...string) *Error {
	return &Error{Kind: kind, Message: message, Fields: fields}
}

// KindOf returns the kind of the first *Error in err's chain, Internal
// for any other non-nil error, and KindUnknown for nil.
func KindOf(err error) Kind {
	if err == nil {
		return KindUnknown
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// VendorCodeOf returns the vendor code of the first *Error in err's chain.
func VendorCodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.VendorCode
	}
	return ""
}
