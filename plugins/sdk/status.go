package sdk

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/shiming-id/shiming/plugins/sdk/proto/providerv1"
)

// kindCodes gives every kind the gRPC code a client in another language
// would expect. The kind itself travels in ErrorDetail; the code is only
// the nearest canonical reading of it.
var kindCodes = [...]codes.Code{
	KindUnknown:       codes.Unknown,
	CodeReused:        codes.FailedPrecondition,
	UUIDInvalid:       codes.NotFound,
	NameIDMismatch:    codes.FailedPrecondition,
	FaceMismatch:      codes.FailedPrecondition,
	LivenessFailed:    codes.FailedPrecondition,
	Expired:           codes.FailedPrecondition,
	Cancelled:         codes.Aborted,
	RateLimited:       codes.ResourceExhausted,
	VendorUnavailable: codes.Unavailable,
	InvalidConfig:     codes.InvalidArgument,
	InvalidRequest:    codes.InvalidArgument,
	NotSupported:      codes.Unimplemented,
	Internal:          codes.Internal,
	CodeInvalid:       codes.InvalidArgument,
}

func codeOf(k Kind) codes.Code {
	if k >= 0 && int(k) < len(kindCodes) {
		return kindCodes[k]
	}
	return codes.Unknown
}

// errorStatus turns an error returned by a provider into the status sent
// to the host. A *Error keeps its kind, vendor code and fields in an
// ErrorDetail; its Message is the status message (Err stays in the
// plugin, it may carry anything). Context errors become the matching gRPC
// codes. A status error passes as it is. Any other error is INTERNAL;
// classified is false for it, so that the caller can log it.
func errorStatus(err error) (st error, classified bool) {
	var e *Error
	if errors.As(err, &e) {
		return kindStatus(e.Kind, e.Message, e.VendorCode, e.Fields), true
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded"), true
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "call cancelled"), true
	}
	if _, ok := status.FromError(err); ok {
		return err, true
	}
	return kindStatus(Internal, "internal error in provider", "", nil), false
}

// kindStatus builds a status carrying an ErrorDetail.
func kindStatus(k Kind, message, vendorCode string, fields []string) error {
	st := status.New(codeOf(k), message)
	withDetail, err := st.WithDetails(&pb.ErrorDetail{
		Kind:       pb.ErrorKind(k),
		VendorCode: vendorCode,
		Fields:     fields,
	})
	if err != nil {
		// Marshalling a three-field message cannot fail; keep the code.
		return st.Err()
	}
	return withDetail.Err()
}

// statusError keeps a gRPC status that carried no ErrorDetail: one made by
// gRPC itself (a broken connection, a deadline) or by a plugin that does
// not use this SDK. It answers errors.Is for the context error it stands
// for and exposes the status to status.FromError.
type statusError struct {
	st     *status.Status
	ctxErr error
}

// Error names only the code: the *Error around it carries the message.
func (e *statusError) Error() string {
	return "grpc status " + e.st.Code().String()
}

func (e *statusError) GRPCStatus() *status.Status { return e.st }

func (e *statusError) Unwrap() error { return e.ctxErr }

// statusToError turns the error of a call on a generated client into a
// *Error. A status with an ErrorDetail gives back the kind, vendor code
// and fields the plugin returned. Without one, the code decides:
// DeadlineExceeded is VendorUnavailable and Canceled is Cancelled, both
// matching the context error with errors.Is; Unavailable (the plugin
// cannot be reached) is VendorUnavailable; Unimplemented is
// NotSupported; the rest is Internal. The status stays reachable through
// status.FromError on the result, so that a caller can tell a broken
// connection from a vendor outage reported by the plugin.
func statusToError(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return &Error{Kind: Internal, Message: "rpc failed", Err: err}
	}
	var ctxErr error
	switch st.Code() {
	case codes.Canceled:
		ctxErr = context.Canceled
	case codes.DeadlineExceeded:
		ctxErr = context.DeadlineExceeded
	}
	for _, d := range st.Details() {
		if ed, ok := d.(*pb.ErrorDetail); ok {
			return &Error{
				Kind:       Kind(ed.GetKind()),
				VendorCode: ed.GetVendorCode(),
				Fields:     ed.GetFields(),
				Message:    st.Message(),
				Err:        ctxErr,
			}
		}
	}
	e := &Error{Message: st.Message(), Err: &statusError{st: st, ctxErr: ctxErr}}
	switch st.Code() {
	case codes.Canceled:
		e.Kind = Cancelled
	case codes.DeadlineExceeded, codes.Unavailable:
		e.Kind = VendorUnavailable
	case codes.Unimplemented:
		e.Kind = NotSupported
	case codes.ResourceExhausted:
		e.Kind = RateLimited
	case codes.InvalidArgument:
		e.Kind = InvalidRequest
	default:
		e.Kind = Internal
	}
	return e
}

// IsTransport reports whether err, returned by a *Client call made with
// ctx, means the plugin could not be reached or the connection broke,
// rather than an answer from the plugin: a status without ErrorDetail
// whose code is Unavailable, or Canceled while ctx itself is still live
// (gRPC cancels calls on a connection that is closing).
func IsTransport(ctx context.Context, err error) bool {
	var se *statusError
	if !errors.As(err, &se) {
		return false
	}
	switch se.st.Code() {
	case codes.Unavailable:
		return true
	case codes.Canceled:
		return ctx.Err() == nil
	}
	return false
}
