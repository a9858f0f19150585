package scan

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk"
)

// FacePhase is where a face verification stands.
type FacePhase string

const (
	// FacePending: the QR code is shown; the candidate runs the check on
	// the phone.
	FacePending FacePhase = "pending"
	// FacePassed: the face matched, with liveness.
	FacePassed FacePhase = "passed"
	// FaceFailed: the face did not match or liveness failed; Reason says
	// which. The candidate may start again while attempts remain.
	FaceFailed FacePhase = "failed"
	// FaceUnavailable: the vendor could not begin one; a retry may.
	FaceUnavailable FacePhase = "unavailable"
)

// MaxFaceFailures is how many failed face verifications a flow allows.
const MaxFaceFailures = 3

// ErrFaceAttempts is returned by BeginFace when a flow used up its
// attempts.
var ErrFaceAttempts = errors.New("scan: no face verification attempts left")

// FaceSession is the face verification of a flow, kept in its state.
type FaceSession struct {
	Provider   string          `json:"provider"`
	Request    sdk.FaceRequest `json:"request"`
	CertifyID  string          `json:"certify_id,omitempty"`
	QR         string          `json:"qr,omitempty"`
	ExpiresAt  time.Time       `json:"expires_at,omitzero"`
	Phase      FacePhase       `json:"phase,omitempty"`
	Generation int             `json:"generation"`
	// Reason is why the last verification failed.
	Reason sdk.Kind `json:"reason,omitempty"`
	// Notice is why this session replaced the one before (cancelled,
	// expired).
	Notice    sdk.Kind `json:"notice,omitempty"`
	Trouble   sdk.Kind `json:"trouble,omitempty"`
	Failures  int      `json:"failures,omitempty"`
	Reference string   `json:"reference,omitempty"`
}

// AttemptsLeft is how many more verifications the flow may start.
func (f FaceSession) AttemptsLeft() int { return max(MaxFaceFailures-f.Failures, 0) }

// FaceOp says which flow a face call is about.
type FaceOp struct {
	Portal string
	// FlowID names the flow in the claims of vendor polls.
	FlowID string
	Update Update[FaceSession]
}

func (m *Machine) facer(name string) (sdk.FaceVerifier, error) {
	p, err := m.o.Providers.FaceVerifier(name)
	if err != nil {
		return nil, unavailable(name, err)
	}
	return p, nil
}

// BeginFace starts a face verification with provider for req, keeping
// the failures counted so far. A vendor that cannot begin one leaves the
// session FaceUnavailable; the error is nil then.
func (m *Machine) BeginFace(ctx context.Context, op FaceOp, cur FaceSession, provider string, req sdk.FaceRequest) (FaceSession, error) {
	if cur.Failures >= MaxFaceFailures {
		return cur, ErrFaceAttempts
	}
	next := m.startFace(ctx, op, provider, req, sdk.KindUnknown)
	return op.Update(ctx, func(s *FaceSession) error {
		if s.Failures >= MaxFaceFailures {
			return ErrFaceAttempts
		}
		n := next
		n.Generation, n.Failures = s.Generation+1, s.Failures
		*s = n
		return nil
	})
}

func (m *Machine) startFace(ctx context.Context, op FaceOp, provider string, req sdk.FaceRequest, notice sdk.Kind) FaceSession {
	s := FaceSession{Provider: provider, Request: req, Notice: notice}
	p, err := m.facer(provider)
	var fs sdk.FaceSession
	if err == nil {
		fs, err = p.BeginFace(ctx, req)
	}
	if err != nil {
		kind := sdk.KindOf(err)
		m.o.Observer.Error(op.Portal, provider, kind)
		m.log(ctx, "face: begin failed", provider, err)
		s.Phase, s.Trouble = FaceUnavailable, kind
		return s
	}
	s.CertifyID, s.QR, s.ExpiresAt, s.Phase = fs.CertifyID, fs.QRContent, fs.ExpiresAt, FacePending
	return s
}

// PollFace answers the face page's status poll, asking the vendor at
// most once per poll interval. A cancelled or expired verification is
// replaced by a fresh one at once.
func (m *Machine) PollFace(ctx context.Context, op FaceOp, cur FaceSession) (FaceSession, error) {
	if cur.Phase != FacePending {
		return cur, nil
	}
	now := m.o.Now()
	if !cur.ExpiresAt.IsZero() && !now.Before(cur.ExpiresAt) {
		return m.restartFace(ctx, op, cur, sdk.Expired)
	}
	if due, err := m.claim(ctx, "face", op.FlowID, cur.Generation, now); err != nil || !due {
		return cur, err
	}
	s := cur
	p, err := m.facer(s.Provider)
	var st sdk.FaceStatus
	if err == nil {
		st, err = p.QueryFace(ctx, s.CertifyID)
	}
	if err != nil {
		switch k := sdk.KindOf(err); k {
		case sdk.Expired, sdk.Cancelled, sdk.UUIDInvalid:
			return m.restartFace(ctx, op, s, k)
		default:
			m.o.Observer.Error(op.Portal, s.Provider, k)
			m.log(ctx, "face: vendor trouble", s.Provider, err)
			if s.Trouble == k {
				return s, nil
			}
			return m.guardedFace(ctx, op, s.Generation, func(x *FaceSession) { x.Trouble = k })
		}
	}
	switch st.Result {
	case sdk.FacePassed:
		return m.guardedFace(ctx, op, s.Generation, func(x *FaceSession) {
			x.Phase, x.Reference, x.Trouble = FacePassed, st.Reference, sdk.KindUnknown
		})
	case sdk.FaceFailed:
		reason := st.Reason
		switch reason {
		case sdk.Cancelled, sdk.Expired:
			return m.restartFace(ctx, op, s, reason)
		case sdk.FaceMismatch, sdk.LivenessFailed:
		default:
			reason = sdk.FaceMismatch
		}
		out, err := m.guardedFace(ctx, op, s.Generation, func(x *FaceSession) {
			x.Phase, x.Reason, x.Trouble = FaceFailed, reason, sdk.KindUnknown
			x.Failures++
		})
		if err == nil && out.Phase == FaceFailed && out.Generation == s.Generation {
			m.o.Observer.Error(op.Portal, s.Provider, reason)
			m.o.Logger.InfoContext(ctx, "face: verification failed", slog.String("provider", s.Provider),
				slog.String("kind", reason.String()), slog.String("vendor_code", st.VendorCode))
		}
		return out, err
	}
	if s.Trouble != sdk.KindUnknown {
		return m.guardedFace(ctx, op, s.Generation, func(x *FaceSession) { x.Trouble = sdk.KindUnknown })
	}
	return s, nil
}

// guardedFace applies change if the flow still holds a pending face
// session of generation gen.
func (m *Machine) guardedFace(ctx context.Context, op FaceOp, gen int, change func(*FaceSession)) (FaceSession, error) {
	s, err := op.Update(ctx, func(s *FaceSession) error {
		if s.Generation != gen || s.Phase != FacePending {
			return errSuperseded
		}
		change(s)
		return nil
	})
	if errors.Is(err, errSuperseded) {
		return s, nil
	}
	return s, err
}

// restartFace replaces a cancelled or expired verification with a fresh
// one, counting the error and the recovery once.
func (m *Machine) restartFace(ctx context.Context, op FaceOp, cur FaceSession, k sdk.Kind) (FaceSession, error) {
	next := m.startFace(ctx, op, cur.Provider, cur.Request, k)
	s, err := op.Update(ctx, func(s *FaceSession) error {
		if s.Generation != cur.Generation {
			return errSuperseded
		}
		n := next
		n.Generation, n.Failures = s.Generation+1, s.Failures
		*s = n
		return nil
	})
	if errors.Is(err, errSuperseded) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	m.o.Observer.Error(op.Portal, cur.Provider, k)
	if next.Phase == FacePending {
		m.o.Observer.Recovery(op.Portal, cur.Provider, k)
	}
	return s, nil
}
