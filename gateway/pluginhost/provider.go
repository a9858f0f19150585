package pluginhost

import (
	"context"
	"fmt"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk"
)

// method describes a call: its metric label, the capability it needs and
// whether it is safe to repeat after a transport failure.
type method struct {
	name       string
	capability sdk.Capability
	idempotent bool
}

// The calls. Only reads are retried: ExchangeCode spends a single-use
// code, and the identity, face, SMS, owner and notice calls are billed or
// send something to a person.
var (
	mInfo         = method{"info", 0, true}
	mConfigure    = method{"configure", 0, false}
	mHealth       = method{"health", 0, true}
	mBeginScan    = method{"begin_scan", sdk.CapabilityScanLogin, false}
	mPollScan     = method{"poll_scan", sdk.CapabilityScanLogin, true}
	mScanCallback = method{"scan_callback", sdk.CapabilityScanLogin, true}
	mExchangeCode = method{"exchange_code", sdk.CapabilityScanLogin, false}
	mCheckID      = method{"check_identity", sdk.CapabilityIdentityCheck, false}
	mBeginFace    = method{"begin_face", sdk.CapabilityFaceVerification, false}
	mQueryFace    = method{"query_face", sdk.CapabilityFaceVerification, true}
	mSendCode     = method{"send_code", sdk.CapabilityPhone, false}
	mVerifyCode   = method{"verify_code", sdk.CapabilityPhone, false}
	mCheckOwner   = method{"check_owner", sdk.CapabilityPhoneOwner, false}
	mSendNotice   = method{"send_notice", sdk.CapabilityPhoneNotice, false}

	allMethods = []method{mInfo, mConfigure, mHealth, mBeginScan, mPollScan, mScanCallback, mExchangeCode,
		mCheckID, mBeginFace, mQueryFace, mSendCode, mVerifyCode, mCheckOwner, mSendNotice}
)

// Provider is the gateway's handle on one provider. Its methods implement
// the sdk capability interfaces through the supervisor: every call runs
// under a deadline (the context's, or the spec's CallTimeout), waits a
// bounded time (RestartWait, and the deadline) for a restarting plugin,
// and fails with sdk.VendorUnavailable when the plugin is not back in
// time or is disabled. After a transport failure only PollScan,
// ScanCallback and QueryFace are tried once more. A capability the
// plugin does not declare fails with sdk.NotSupported without a call.
// Errors keep their sdk.Kind (use sdk.KindOf).
type Provider struct {
	h   *Host
	sup *supervisor
}

// Name is the provider's name in the configuration.
func (p *Provider) Name() string { return p.sup.spec.Name }

// Info is what the plugin last reported; zero until its first start.
func (p *Provider) Info() sdk.Info {
	p.sup.mu.Lock()
	defer p.sup.mu.Unlock()
	return p.sup.info
}

// Has reports whether the plugin declared c when it last started. It is
// false until then, so check it when serving a request, not at boot.
func (p *Provider) Has(c sdk.Capability) bool { return p.Info().Has(c) }

// call runs fn against a serving instance with the supervisor's rules,
// and records its duration and error kind.
func (p *Provider) call(ctx context.Context, m method, fn func(context.Context, *sdk.Client) error) error {
	start := time.Now()
	err := p.do(ctx, m, fn)
	p.sup.observe(m, start, err)
	if err != nil {
		return fmt.Errorf("pluginhost: %s: %s: %w", p.sup.spec.Name, m.name, err)
	}
	return nil
}

func (p *Provider) do(ctx context.Context, m method, fn func(context.Context, *sdk.Client) error) error {
	if !p.h.enter() {
		return sdk.E(sdk.VendorUnavailable, "plugin host is shutting down")
	}
	defer p.h.inflight.Done()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.sup.spec.CallTimeout)
		defer cancel()
	}
	s, o := p.sup, p.h.opts
	inst, err := s.await(ctx, o.RestartWait, nil)
	if err != nil {
		return err
	}
	for retried := false; ; retried = true {
		if m.capability != 0 && !inst.info.Has(m.capability) {
			return sdk.E(sdk.NotSupported, "provider does not declare "+m.capability.String())
		}
		err = fn(ctx, inst.client)
		if err == nil || !sdk.IsTransport(ctx, err) {
			return err
		}
		s.suspect()
		lost := &sdk.Error{Kind: sdk.VendorUnavailable, Message: "connection to the plugin failed", Err: err}
		if !m.idempotent || retried {
			return lost
		}
		s.log.Warn("retrying a call after a transport failure", "method", m.name)
		if inst, err = p.retryTarget(ctx, inst); err != nil {
			return lost
		}
	}
}

// retryTarget returns an instance to retry on after a transport failure
// on inst: inst itself if it still answers a health probe, else the one
// that replaces it, waited for within RestartWait.
func (p *Provider) retryTarget(ctx context.Context, inst *instance) (*instance, error) {
	s, o := p.sup, p.h.opts
	select {
	case <-inst.client.Done():
	default:
		hctx, cancel := context.WithTimeout(ctx, o.HealthTimeout)
		_, err := inst.client.Health(hctx)
		cancel()
		if err == nil {
			return inst, nil
		}
	}
	return s.await(ctx, o.RestartWait, inst)
}

// BeginScan starts a QR session. Not retried.
func (p *Provider) BeginScan(ctx context.Context, req sdk.BeginScanRequest) (sdk.ScanSession, error) {
	var out sdk.ScanSession
	err := p.call(ctx, mBeginScan, func(ctx context.Context, c *sdk.Client) (err error) {
		out, err = c.BeginScan(ctx, req)
		return err
	})
	return out, err
}

// PollScan reports a QR session's state. Retried once.
func (p *Provider) PollScan(ctx context.Context, uuid string) (sdk.ScanStatus, error) {
	var out sdk.ScanStatus
	err := p.call(ctx, mPollScan, func(ctx context.Context, c *sdk.Client) (err error) {
		out, err = c.PollScan(ctx, uuid)
		return err
	})
	return out, err
}

// ScanCallback interprets the vendor's redirect. Retried once.
func (p *Provider) ScanCallback(ctx context.Context, uuid string, query map[string]string) (sdk.ScanStatus, error) {
	var out sdk.ScanStatus
	err := p.call(ctx, mScanCallback, func(ctx context.Context, c *sdk.Client) (err error) {
		out, err = c.ScanCallback(ctx, uuid, query)
		return err
	})
	return out, err
}

// ExchangeCode spends a confirmed code. Never retried.
func (p *Provider) ExchangeCode(ctx context.Context, uuid, code string) (sdk.Identity, error) {
	var out sdk.Identity
	err := p.call(ctx, mExchangeCode, func(ctx context.Context, c *sdk.Client) (err error) {
		out, err = c.ExchangeCode(ctx, uuid, code)
		return err
	})
	return out, err
}

// CheckIdentity checks a name against an ID number. Never retried.
func (p *Provider) CheckIdentity(ctx context.Context, name, idNumber string) (string, error) {
	var out string
	err := p.call(ctx, mCheckID, func(ctx context.Context, c *sdk.Client) (err error) {
		out, err = c.CheckIdentity(ctx, name, idNumber)
		return err
	})
	return out, err
}

// BeginFace starts a face verification. Never retried.
func (p *Provider) BeginFace(ctx context.Context, req sdk.FaceRequest) (sdk.FaceSession, error) {
	var out sdk.FaceSession
	err := p.call(ctx, mBeginFace, func(ctx context.Context, c *sdk.Client) (err error) {
		out, err = c.BeginFace(ctx, req)
		return err
	})
	return out, err
}

// QueryFace reports a face verification's result. Retried once.
func (p *Provider) QueryFace(ctx context.Context, certifyID string) (sdk.FaceStatus, error) {
	var out sdk.FaceStatus
	err := p.call(ctx, mQueryFace, func(ctx context.Context, c *sdk.Client) (err error) {
		out, err = c.QueryFace(ctx, certifyID)
		return err
	})
	return out, err
}

// SendCode sends a one-time code by SMS. Never retried.
func (p *Provider) SendCode(ctx context.Context, phone, purpose string) (sdk.CodeTicket, error) {
	var out sdk.CodeTicket
	err := p.call(ctx, mSendCode, func(ctx context.Context, c *sdk.Client) (err error) {
		out, err = c.SendCode(ctx, phone, purpose)
		return err
	})
	return out, err
}

// VerifyCode checks a one-time code. Never retried.
func (p *Provider) VerifyCode(ctx context.Context, ticket, phone, purpose, code string) error {
	return p.call(ctx, mVerifyCode, func(ctx context.Context, c *sdk.Client) error {
		return c.VerifyCode(ctx, ticket, phone, purpose, code)
	})
}

// CheckOwner checks that a phone belongs to a person. Never retried.
func (p *Provider) CheckOwner(ctx context.Context, phone, name, idNumber string) error {
	return p.call(ctx, mCheckOwner, func(ctx context.Context, c *sdk.Client) error {
		return c.CheckOwner(ctx, phone, name, idNumber)
	})
}

// SendNotice sends a notice by SMS. Never retried.
func (p *Provider) SendNotice(ctx context.Context, phone string, n sdk.Notice) error {
	return p.call(ctx, mSendNotice, func(ctx context.Context, c *sdk.Client) error {
		return c.SendNotice(ctx, phone, n)
	})
}

var (
	_ sdk.ScanLogin         = (*Provider)(nil)
	_ sdk.IdentityChecker   = (*Provider)(nil)
	_ sdk.FaceVerifier      = (*Provider)(nil)
	_ sdk.PhoneVerifier     = (*Provider)(nil)
	_ sdk.PhoneOwnerChecker = (*Provider)(nil)
	_ sdk.PhoneNotifier     = (*Provider)(nil)
)
