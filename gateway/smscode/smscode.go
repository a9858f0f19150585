// Package smscode sends one-time SMS codes under the abuse limits and
// checks them. Each code is bound to the flow that asked for it (its
// Ticket lives in the flow's state), to a purpose and to one phone
// number, and allows MaxAttempts tries; the resend cooldown and the daily
// budgets per phone, ID number, client address and gateway are checked
// before the vendor is called.
package smscode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/shiming-id/shiming/gateway/config"
	"github.com/shiming-id/shiming/gateway/ratelimit"
	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

// Purposes of codes.
const (
	PurposeBindPhone     = "bind_phone"
	PurposeLogin         = "login"
	PurposeChangePhone   = "change_phone"
	PurposeResetPassword = "reset_password"
)

// Rule names of the limits, the label values of shiming_rate_limited_total.
const (
	RulePhone  = "sms_phone"
	RuleID     = "sms_id"
	RuleIP     = "sms_ip"
	RuleDay    = "sms_day"
	RuleResend = "sms_resend"
)

// RuleNames lists the rule names this package uses.
func RuleNames() []string { return []string{RulePhone, RuleID, RuleIP, RuleDay, RuleResend} }

// MaxAttempts is how many codes may be tried against one ticket.
const MaxAttempts = 5

// Ticket is what a flow keeps about the code it asked for.
type Ticket struct {
	Ticket    string    `json:"ticket"`
	Phone     string    `json:"phone"`
	Purpose   string    `json:"purpose"`
	SentAt    time.Time `json:"sent_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	Attempts  int       `json:"attempts,omitempty"`
	Used      bool      `json:"used,omitempty"`
}

// ValidFor is how long the code lives from when it was sent, as the SMS
// provider set it; zero when unknown.
func (t Ticket) ValidFor() time.Duration {
	if t.ExpiresAt.IsZero() || t.SentAt.IsZero() {
		return 0
	}
	return t.ExpiresAt.Sub(t.SentAt)
}

// Sent reports whether a code was sent and not yet used.
func (t Ticket) Sent() bool { return t.Ticket != "" && !t.Used }

// AttemptsLeft is how many more codes may be tried.
func (t Ticket) AttemptsLeft() int { return max(MaxAttempts-t.Attempts, 0) }

// Local refusals of Reserve.
var (
	ErrNotSent    = errors.New("smscode: no code was sent")
	ErrWrongPhone = errors.New("smscode: the code was sent to another number or for another purpose")
	ErrAttempts   = errors.New("smscode: no attempts left")
	ErrExpired    = errors.New("smscode: the code expired")
)

// LimitError refuses a send that an abuse limit forbids.
type LimitError struct {
	Rule       string
	RetryAfter time.Duration
}

func (e *LimitError) Error() string {
	return "smscode: limited by " + e.Rule + ", retry after " + e.RetryAfter.String()
}

// Options configure a Sender.
type Options struct {
	// Provider names the SMS provider (config RealName.SMS).
	Provider  string
	Providers interface {
		PhoneVerifier(name string) (sdk.PhoneVerifier, error)
	}
	Limiter *ratelimit.Limiter
	Limits  config.Limits
	// Hash turns a phone number or ID number into a stable,
	// non-reversible key for the counters.
	Hash   func(kind, value string) string
	Now    func() time.Time
	Logger *slog.Logger
}

// Sender sends and checks codes.
type Sender struct {
	o Options
}

// New returns a Sender.
func New(o Options) (*Sender, error) {
	if o.Providers == nil || o.Limiter == nil || o.Hash == nil || o.Provider == "" {
		return nil, errors.New("smscode: provider, providers, limiter and hash are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Sender{o: o}, nil
}

// Provider is the name of the SMS provider.
func (s *Sender) Provider() string { return s.o.Provider }

// Request asks for a code.
type Request struct {
	Phone   string // normalized (cnid.ParsePhone)
	Purpose string
	// IDNumber, when known, counts against the per-ID-number budget.
	IDNumber string
	IP       string
}

// The SMS budgets are per calendar day in China: windows of a day from
// midnight at UTC+8 (China keeps no daylight saving time).
const (
	day         = 24 * time.Hour
	chinaOffset = 8 * time.Hour
)

// Send checks the limits and sends a code. A refusal by a limit is a
// *LimitError; a vendor failure keeps its sdk kind.
func (s *Sender) Send(ctx context.Context, req Request) (Ticket, error) {
	phoneKey := s.o.Hash("phone", req.Phone)
	if d, err := s.o.Limiter.Cooldown(ctx, RuleResend, phoneKey, s.resendAfter()); err != nil {
		return Ticket{}, fmt.Errorf("smscode: cooldown: %w", err)
	} else if !d.Allowed {
		return Ticket{}, &LimitError{Rule: RuleResend, RetryAfter: d.RetryAfter}
	}
	checks := []struct {
		key  string
		rule ratelimit.Rule
	}{
		{phoneKey, ratelimit.Rule{Name: RulePhone, Limit: int64(s.o.Limits.SMSPerPhonePerDay), Window: day, Offset: chinaOffset}},
		{s.o.Hash("id", req.IDNumber), ratelimit.Rule{Name: RuleID, Limit: int64(s.o.Limits.SMSPerIDPerDay), Window: day, Offset: chinaOffset}},
		{req.IP, ratelimit.Rule{Name: RuleIP, Limit: int64(s.o.Limits.SMSPerIPPerDay), Window: day, Offset: chinaOffset}},
		{"all", ratelimit.Rule{Name: RuleDay, Limit: int64(s.o.Limits.SMSPerDay), Window: day, Offset: chinaOffset}},
	}
	for _, c := range checks {
		if c.rule.Limit <= 0 || (c.rule.Name == RuleID && req.IDNumber == "") || (c.rule.Name == RuleIP && req.IP == "") {
			continue
		}
		d, err := s.o.Limiter.Take(ctx, c.key, c.rule)
		if err != nil {
			return Ticket{}, fmt.Errorf("smscode: limit: %w", err)
		}
		if !d.Allowed {
			s.o.Logger.WarnContext(ctx, "sms: limited", slog.String("rule", c.rule.Name), slog.String("phone", cnid.MaskPhone(req.Phone)))
			return Ticket{}, &LimitError{Rule: c.rule.Name, RetryAfter: d.RetryAfter}
		}
	}
	p, err := s.o.Providers.PhoneVerifier(s.o.Provider)
	if err != nil {
		return Ticket{}, &sdk.Error{Kind: sdk.VendorUnavailable, Message: "sms provider not available", Err: err}
	}
	t, err := p.SendCode(ctx, req.Phone, req.Purpose)
	if err != nil {
		s.o.Logger.WarnContext(ctx, "sms: send failed", slog.String("provider", s.o.Provider),
			slog.String("kind", sdk.KindOf(err).String()), slog.String("vendor_code", sdk.VendorCodeOf(err)),
			slog.String("phone", cnid.MaskPhone(req.Phone)))
		return Ticket{}, fmt.Errorf("smscode: send: %w", err)
	}
	s.o.Logger.InfoContext(ctx, "sms: code sent", slog.String("purpose", req.Purpose), slog.String("phone", cnid.MaskPhone(req.Phone)))
	return Ticket{Ticket: t.Ticket, Phone: req.Phone, Purpose: req.Purpose, SentAt: s.o.Now(), ExpiresAt: t.ExpiresAt}, nil
}

func (s *Sender) resendAfter() time.Duration {
	if d := s.o.Limits.SMSResendAfter.D(); d > 0 {
		return d
	}
	return time.Minute
}

// ResendIn is how long until a code to t's phone may be sent again.
func (s *Sender) ResendIn(t Ticket) time.Duration {
	if t.Ticket == "" {
		return 0
	}
	return max(t.SentAt.Add(s.resendAfter()).Sub(s.o.Now()), 0)
}

// Reserve takes one attempt on t for a code typed for phone and purpose.
// It is a pure change for the flow's update, so that concurrent tries
// cannot exceed MaxAttempts.
func Reserve(t *Ticket, phone, purpose string, now time.Time) error {
	switch {
	case t.Ticket == "" || t.Used:
		return ErrNotSent
	case t.Phone != phone || t.Purpose != purpose:
		return ErrWrongPhone
	case t.Attempts >= MaxAttempts:
		return ErrAttempts
	case !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt):
		return ErrExpired
	}
	t.Attempts++
	return nil
}

// Check asks the vendor whether code is the one sent for t. Reserve an
// attempt first. A wrong code is sdk kind CodeInvalid.
func (s *Sender) Check(ctx context.Context, t Ticket, code string) error {
	p, err := s.o.Providers.PhoneVerifier(s.o.Provider)
	if err != nil {
		return &sdk.Error{Kind: sdk.VendorUnavailable, Message: "sms provider not available", Err: err}
	}
	if err := p.VerifyCode(ctx, t.Ticket, t.Phone, t.Purpose, code); err != nil {
		return fmt.Errorf("smscode: verify: %w", err)
	}
	return nil
}

// ValidCode reports whether s looks like a code (4 to 8 digits), so that
// typos do not cost an attempt.
func ValidCode(s string) bool {
	if len(s) < 4 || len(s) > 8 {
		return false
	}
	_, err := strconv.ParseUint(s, 10, 32)
	return err == nil
}
