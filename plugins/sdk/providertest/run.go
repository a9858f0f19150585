package providertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk"
)

const (
	// callTimeout bounds every call the kit makes.
	callTimeout = 10 * time.Second
	// cancelBound is how soon a call must return once its context is
	// cancelled while the vendor is slow.
	cancelBound = 5 * time.Second
	// flows is the number of concurrent flows.
	flows = 50
)

// Run runs the conformance suite against the provider of h: first in the
// test process (through the SDK's in-process transport, so that -race
// sees the provider), then over a real plugin process started with
// h.Command. See the package documentation for what it checks.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if err := h.check(); err != nil {
		t.Fatal(err)
	}
	t.Run("kinds_survive_the_wire", testKinds)
	t.Run("in_process", func(t *testing.T) { suite(t, &h, inProcess{&h}) })
	t.Run("plugin_process", func(t *testing.T) {
		if h.Command == nil {
			t.Skip("providertest: Harness.Command is nil; the over-the-wire run needs the plugin binary")
		}
		suite(t, &h, overTheWire{&h})
	})
}

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
	t.Cleanup(cancel)
	return ctx
}

// wantKind fails unless err has kind k.
func wantKind(t *testing.T, what string, err error, k sdk.Kind) {
	t.Helper()
	if got := sdk.KindOf(err); got != k {
		t.Errorf("%s: got %v (kind %v), want kind %v", what, err, got, k)
	}
}

func suite(t *testing.T, h *Harness, tg target) {
	fresh := tg.open(t, nil)
	info, err := fresh.Info(callCtx(t))
	if err != nil {
		t.Fatalf("Info on an unconfigured provider: %v", err)
	}
	if err := h.needs(info); err != nil {
		t.Fatal(err)
	}

	t.Run("info", func(t *testing.T) { checkInfo(t, info) })
	t.Run("rejects_bad_config", func(t *testing.T) {
		err := tg.open(t, nil).Configure(callCtx(t), h.BadConfig)
		var e *sdk.Error
		if !errors.As(err, &e) || e.Kind != sdk.InvalidConfig {
			t.Fatalf("Configure(BadConfig) = %v, want kind %v", err, sdk.InvalidConfig)
		}
		for _, f := range h.BadFields {
			if !slices.Contains(e.Fields, f) {
				t.Errorf("InvalidConfig names fields %v, not %q", e.Fields, f)
			}
		}
	})
	t.Run("declared_capabilities_answer", func(t *testing.T) {
		c := tg.open(t, h.Config)
		for _, cp := range info.Capabilities {
			for name, call := range capabilityCalls(cp, c) {
				if err := call(callCtx(t)); sdk.KindOf(err) == sdk.NotSupported {
					t.Errorf("%s %s: declared, but answers %v", cp, name, err)
				}
			}
		}
	})
	t.Run("undeclared_capabilities_not_supported", func(t *testing.T) {
		c := tg.open(t, h.Config)
		for _, cp := range sdk.Capabilities() {
			if info.Has(cp) {
				continue
			}
			for name, call := range capabilityCalls(cp, c) {
				wantKind(t, cp.String()+" "+name, call(callCtx(t)), sdk.NotSupported)
			}
		}
	})

	for _, cs := range []struct {
		cp    sdk.Capability
		tests []namedTest
	}{
		{sdk.CapabilityScanLogin, scanTests},
		{sdk.CapabilityIdentityCheck, identityTests},
		{sdk.CapabilityFaceVerification, faceTests},
		{sdk.CapabilityPhone, phoneTests},
		{sdk.CapabilityPhoneOwner, ownerTests},
		{sdk.CapabilityPhoneNotice, noticeTests},
	} {
		t.Run(cs.cp.String(), func(t *testing.T) {
			if !info.Has(cs.cp) {
				t.Skipf("%s is not declared", cs.cp)
			}
			for _, nt := range cs.tests {
				t.Run(nt.name, func(t *testing.T) { nt.fn(t, h, tg) })
			}
		})
	}

	t.Run("cancelled_context_returns_promptly", func(t *testing.T) { testCancel(t, h, tg, info) })
	t.Run("concurrent_flows", func(t *testing.T) { testConcurrent(t, h, tg, info) })
}

type namedTest struct {
	name string
	fn   func(t *testing.T, h *Harness, tg target)
}

func checkInfo(t *testing.T, info sdk.Info) {
	if info.Name == "" || info.Version == "" {
		t.Errorf("Info must name the provider and its version: %+v", info)
	}
	if info.ProtocolVersion != sdk.ProtocolVersion {
		t.Errorf("protocol version %d, want %d", info.ProtocolVersion, sdk.ProtocolVersion)
	}
	if len(info.Capabilities) == 0 {
		t.Error("Info declares no capability")
	}
	seen := map[sdk.Capability]bool{}
	for _, c := range info.Capabilities {
		if c.String() == "unknown" || seen[c] {
			t.Errorf("capability %d is unknown or declared twice", int(c))
		}
		seen[c] = true
	}
}

// capabilityCalls returns one call per method of a capability, with
// harmless arguments.
func capabilityCalls(cp sdk.Capability, c *sdk.Client) map[string]func(context.Context) error {
	const phone = "13800138000"
	switch cp {
	case sdk.CapabilityScanLogin:
		return map[string]func(context.Context) error{
			"BeginScan":    func(ctx context.Context) error { _, err := c.BeginScan(ctx, sdk.BeginScanRequest{}); return err },
			"PollScan":     func(ctx context.Context) error { _, err := c.PollScan(ctx, "x"); return err },
			"ScanCallback": func(ctx context.Context) error { _, err := c.ScanCallback(ctx, "x", nil); return err },
			"ExchangeCode": func(ctx context.Context) error { _, err := c.ExchangeCode(ctx, "x", "y"); return err },
		}
	case sdk.CapabilityIdentityCheck:
		return map[string]func(context.Context) error{
			"CheckIdentity": func(ctx context.Context) error { _, err := c.CheckIdentity(ctx, "x", "y"); return err },
		}
	case sdk.CapabilityFaceVerification:
		return map[string]func(context.Context) error{
			"BeginFace": func(ctx context.Context) error { _, err := c.BeginFace(ctx, sdk.FaceRequest{}); return err },
			"QueryFace": func(ctx context.Context) error { _, err := c.QueryFace(ctx, "x"); return err },
		}
	case sdk.CapabilityPhone:
		return map[string]func(context.Context) error{
			"SendCode":   func(ctx context.Context) error { _, err := c.SendCode(ctx, phone, "x"); return err },
			"VerifyCode": func(ctx context.Context) error { return c.VerifyCode(ctx, "x", phone, "x", "1") },
		}
	case sdk.CapabilityPhoneOwner:
		return map[string]func(context.Context) error{
			"CheckOwner": func(ctx context.Context) error { return c.CheckOwner(ctx, phone, "x", "y") },
		}
	case sdk.CapabilityPhoneNotice:
		return map[string]func(context.Context) error{
			"SendNotice": func(ctx context.Context) error { return c.SendNotice(ctx, phone, phoneChanged(noticeNewPhone)) },
		}
	}
	return nil
}

// testCancel cancels a call of each declared capability while the vendor
// is slow.
func testCancel(t *testing.T, h *Harness, tg target, info sdk.Info) {
	c := tg.open(t, h.Config)
	m := h.People.Match
	calls := map[sdk.Capability]func(context.Context) error{
		sdk.CapabilityScanLogin: func(ctx context.Context) error {
			ss, err := c.BeginScan(ctx, sdk.BeginScanRequest{CallbackURL: h.CallbackURL, State: "cancel"})
			if err != nil {
				return err
			}
			// A vendor whose QR content is built without a call (Alipay's
			// authorization URL) is first reached by the exchange.
			_, err = c.ExchangeCode(ctx, ss.UUID, "providertest-cancel")
			return err
		},
		sdk.CapabilityIdentityCheck: func(ctx context.Context) error { _, err := c.CheckIdentity(ctx, m.Name, m.IDNumber); return err },
		sdk.CapabilityFaceVerification: func(ctx context.Context) error {
			_, err := c.BeginFace(ctx, sdk.FaceRequest{Name: m.Name, IDNumber: m.IDNumber, Subject: m.Subject, ReturnURL: h.CallbackURL})
			return err
		},
		sdk.CapabilityPhone:       func(ctx context.Context) error { _, err := c.SendCode(ctx, m.Phone, "bind_phone"); return err },
		sdk.CapabilityPhoneOwner:  func(ctx context.Context) error { return c.CheckOwner(ctx, m.Phone, m.Name, m.IDNumber) },
		sdk.CapabilityPhoneNotice: func(ctx context.Context) error { return c.SendNotice(ctx, m.Phone, phoneChanged(noticeNewPhone)) },
	}
	restore := h.Slow()
	defer restore()
	for _, cp := range info.Capabilities {
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		err := calls[cp](ctx)
		took := time.Since(start)
		cancel()
		if err == nil {
			t.Errorf("%s: a call cancelled while the vendor was slow succeeded; is Harness.Slow slow?", cp)
		}
		if took > cancelBound {
			t.Errorf("%s: the call returned %s after its context was cancelled (bound %s): pass ctx to the vendor's HTTP requests", cp, took.Round(time.Millisecond), cancelBound)
		}
	}
}

// testConcurrent runs 50 flows at once, each through every declared
// capability.
func testConcurrent(t *testing.T, h *Harness, tg target, info sdk.Info) {
	c := tg.open(t, h.Config)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for i := range flows {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), 3*callTimeout)
			defer cancel()
			if err := flow(ctx, h, c, info, i); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("flow %d: %w", i, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
}

// flow runs the happy path of every declared capability; i tells the
// flow's phone number apart.
func flow(ctx context.Context, h *Harness, c *sdk.Client, info sdk.Info, i int) error {
	m := h.People.Match
	if info.Has(sdk.CapabilityScanLogin) {
		if _, _, err := scanLogin(ctx, h, c, fmt.Sprintf("flow-%d", i)); err != nil {
			return err
		}
	}
	if info.Has(sdk.CapabilityIdentityCheck) {
		if _, err := c.CheckIdentity(ctx, m.Name, m.IDNumber); err != nil {
			return fmt.Errorf("CheckIdentity: %w", err)
		}
	}
	if info.Has(sdk.CapabilityFaceVerification) {
		st, err := faceCheck(ctx, h, c, m)
		if err != nil {
			return err
		}
		if st.Result != sdk.FacePassed {
			return fmt.Errorf("face check of People.Match: result %d", st.Result)
		}
	}
	if info.Has(sdk.CapabilityPhone) {
		phone := fmt.Sprintf("139%08d", i+1)
		tk, err := c.SendCode(ctx, phone, "bind_phone")
		if err != nil {
			return fmt.Errorf("SendCode: %w", err)
		}
		code, err := h.Phone.SMSCode(ctx, phone)
		if err != nil {
			return fmt.Errorf("harness SMSCode: %w", err)
		}
		if err := c.VerifyCode(ctx, tk.Ticket, phone, "bind_phone", code); err != nil {
			return fmt.Errorf("VerifyCode: %w", err)
		}
	}
	if info.Has(sdk.CapabilityPhoneOwner) {
		if err := c.CheckOwner(ctx, m.Phone, m.Name, m.IDNumber); err != nil {
			return fmt.Errorf("CheckOwner: %w", err)
		}
	}
	if info.Has(sdk.CapabilityPhoneNotice) {
		if err := c.SendNotice(ctx, fmt.Sprintf("137%08d", i+1), phoneChanged(noticeNewPhone)); err != nil {
			return fmt.Errorf("SendNotice: %w", err)
		}
	}
	return nil
}
