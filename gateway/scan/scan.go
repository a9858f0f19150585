// Package scan runs the sessions a candidate finishes on the phone while
// the desktop shows a QR code: scan login (WeChat, Alipay, CTID) and face
// verification. The session lives inside the journey's flow. The vendor
// is asked at most once per poll interval per flow, whoever asks; a
// confirmed code is exchanged exactly once, whichever request sees it
// first (the page's poll, the "我已扫码" button or the vendor's callback);
// and a reused code, an unknown or expired QR session or a cancel on the
// phone silently becomes a fresh QR code, counted as an error and as a
// recovery of its kind.
package scan

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/shiming-id/shiming/gateway/store"
	"github.com/shiming-id/shiming/plugins/sdk"
)

// Phase is where a scan session stands, as the page shows it.
type Phase string

const (
	// Waiting: the QR code is shown and nobody has scanned it yet.
	Waiting Phase = "waiting"
	// Scanned: the phone scanned it; the candidate has yet to confirm.
	Scanned Phase = "scanned"
	// Exchanging: a request claimed the confirmed code and is exchanging it.
	Exchanging Phase = "exchanging"
	// Done: the identity is in the session.
	Done Phase = "done"
	// Failed: the vendor could not be reached; a retry begins a fresh QR.
	Failed Phase = "failed"
)

// Session is one QR session of a flow, kept in the flow's state.
type Session struct {
	Provider  string    `json:"provider"`
	UUID      string    `json:"uuid,omitempty"`
	QR        string    `json:"qr,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// State is the random state parameter the vendor echoes to the
	// callback; the index scanstate:<State> finds the flow from it.
	State string `json:"state,omitempty"`
	Phase Phase  `json:"phase,omitempty"`
	// Generation counts the QR sessions of the flow; an update meant for
	// an older one is dropped.
	Generation int `json:"generation"`
	// Notice is why this QR replaced the one before (code_reused,
	// cancelled, ...): the page explains it in one calm sentence.
	Notice sdk.Kind `json:"notice,omitempty"`
	// Trouble is the vendor's current trouble (vendor_unavailable, ...),
	// cleared by the next good answer.
	Trouble    sdk.Kind      `json:"trouble,omitempty"`
	ExchangeAt time.Time     `json:"exchange_at,omitzero"`
	Identity   *sdk.Identity `json:"identity,omitempty"`
}

// Active reports whether a session was begun.
func (s Session) Active() bool { return s.Phase != "" }

// Update applies a pure change to the part T of a flow's state and saves
// the flow. It returns the part as saved, or as loaded when change
// returned an error (which it passes on). FlowUpdate builds one.
type Update[T any] func(ctx context.Context, change func(*T) error) (T, error)

// Op says which flow a call is about.
type Op struct {
	Portal string
	// Kind and FlowID are written to the callback index.
	Kind   string
	FlowID string
	// FlowExpires bounds the callback index entry.
	FlowExpires time.Time
	Update      Update[Session]
}

// Providers finds providers by name. An error means the provider is
// unknown or disabled, which counts as vendor_unavailable.
type Providers interface {
	ScanLogin(name string) (sdk.ScanLogin, error)
	FaceVerifier(name string) (sdk.FaceVerifier, error)
}

// Observer counts errors and recoveries; metrics.Journeys is one.
type Observer interface {
	Error(portal, provider string, kind sdk.Kind)
	Recovery(portal, provider string, kind sdk.Kind)
}

// Options configure a Machine.
type Options struct {
	Providers Providers
	KV        store.KV
	Now       func() time.Time
	// PollInterval is the least time between two vendor polls of a flow.
	PollInterval time.Duration
	// CallbackURL returns the redirect URL the vendor sends the phone's
	// browser to, for a provider.
	CallbackURL func(provider string) string
	Observer    Observer
	Logger      *slog.Logger
}

const (
	// staleExchange is how long an exchange may stay unfinished before the
	// session is replaced: longer than any vendor call may take, so only
	// a request that died mid-exchange leaves one this old.
	staleExchange = time.Minute
	// claimTTL keeps a claimed code's marker well past any vendor's code
	// lifetime (WeChat and Alipay codes live five minutes).
	claimTTL = 30 * time.Minute
	// indexPrefix prefixes the callback index keys.
	indexPrefix = "scanstate:"
)

var (
	errSuperseded = errors.New("scan: session superseded")
)

// Machine runs scan sessions.
type Machine struct {
	o    Options
	gate pollGate
}

// New returns a Machine.
func New(o Options) (*Machine, error) {
	if o.Providers == nil || o.KV == nil || o.CallbackURL == nil || o.Observer == nil {
		return nil, errors.New("scan: providers, KV, callback URL and observer are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Machine{o: o}, nil
}

// unavailable is the error for a provider the host cannot give.
func unavailable(name string, err error) error {
	return &sdk.Error{Kind: sdk.VendorUnavailable, Message: "provider " + name + " is not available", Err: err}
}

func (m *Machine) scanner(name string) (sdk.ScanLogin, error) {
	p, err := m.o.Providers.ScanLogin(name)
	if err != nil {
		return nil, unavailable(name, err)
	}
	return p, nil
}

// Begin starts a fresh QR session with provider, replacing whatever
// session the flow had. A vendor that cannot begin one leaves the session
// Failed, with the trouble for the page to explain; the error is nil then.
func (m *Machine) Begin(ctx context.Context, op Op, provider string) (Session, error) {
	next := m.start(ctx, op, provider, sdk.KindUnknown)
	return op.Update(ctx, func(s *Session) error {
		n := next
		n.Generation = s.Generation + 1
		*s = n
		return nil
	})
}

// start asks the vendor for a QR session and indexes its state. It does
// not touch the flow.
func (m *Machine) start(ctx context.Context, op Op, provider string, notice sdk.Kind) Session {
	s := Session{Provider: provider, Notice: notice}
	p, err := m.scanner(provider)
	if err == nil {
		s.State = randomState()
		var ss sdk.ScanSession
		ss, err = p.BeginScan(ctx, sdk.BeginScanRequest{CallbackURL: m.o.CallbackURL(provider), State: s.State})
		if err == nil {
			s.UUID, s.QR, s.ExpiresAt = ss.UUID, ss.QRContent, ss.ExpiresAt
			err = m.index(ctx, op, s.State)
		}
	}
	if err != nil {
		kind := sdk.KindOf(err)
		m.o.Observer.Error(op.Portal, provider, kind)
		m.log(ctx, "scan: begin failed", provider, err)
		s.Phase, s.Trouble, s.UUID, s.QR, s.State = Failed, kind, "", "", ""
		return s
	}
	s.Phase = Waiting
	return s
}

// indexEntry is the value of a callback index key.
type indexEntry struct {
	Kind string `json:"kind"`
	Flow string `json:"flow"`
}

func (m *Machine) index(ctx context.Context, op Op, state string) error {
	b, err := json.Marshal(indexEntry{Kind: op.Kind, Flow: op.FlowID})
	if err != nil {
		return fmt.Errorf("scan: index: %w", err)
	}
	exp := op.FlowExpires
	if exp.IsZero() {
		exp = m.o.Now().Add(claimTTL)
	}
	if err := m.o.KV.Put(ctx, indexPrefix+state, b, exp); err != nil {
		return fmt.Errorf("scan: index: %w", err)
	}
	return nil
}

// ErrUnknownState is returned by Lookup for a state no live flow issued.
var ErrUnknownState = errors.New("scan: unknown callback state")

// Lookup finds the flow a callback's state parameter belongs to: its
// kind and id.
func (m *Machine) Lookup(ctx context.Context, state string) (kind, flowID string, err error) {
	if state == "" || len(state) > 128 {
		return "", "", ErrUnknownState
	}
	b, err := m.o.KV.Get(ctx, indexPrefix+state, m.o.Now())
	if errors.Is(err, store.ErrNotFound) {
		return "", "", ErrUnknownState
	}
	if err != nil {
		return "", "", fmt.Errorf("scan: lookup: %w", err)
	}
	var e indexEntry
	if err := json.Unmarshal(b, &e); err != nil {
		return "", "", fmt.Errorf("scan: lookup: %w", err)
	}
	return e.Kind, e.Flow, nil
}

// guarded applies change if the flow still holds generation gen in one of
// phases; applied reports whether it did.
func (m *Machine) guarded(ctx context.Context, op Op, gen int, phases []Phase, change func(*Session)) (Session, bool, error) {
	s, err := op.Update(ctx, func(s *Session) error {
		if s.Generation != gen || !inPhases(s.Phase, phases) {
			return errSuperseded
		}
		change(s)
		return nil
	})
	if errors.Is(err, errSuperseded) {
		return s, false, nil
	}
	return s, err == nil, err
}

func inPhases(p Phase, phases []Phase) bool {
	for _, q := range phases {
		if p == q {
			return true
		}
	}
	return false
}

var live = []Phase{Waiting, Scanned}

// Poll answers the page's status poll. It reads nothing but cur (the
// session of the flow the caller loaded) unless the vendor is due to be
// asked; then one request, on whichever replica, claims the poll (see
// pollGate), asks the vendor and applies the answer, writing the flow
// only when the answer changes it. A confirmed code is exchanged at once; a stale
// or cancelled session is replaced by a fresh one.
func (m *Machine) Poll(ctx context.Context, op Op, cur Session) (Session, error) {
	now := m.o.Now()
	switch cur.Phase {
	case Waiting, Scanned:
	case Exchanging:
		if now.Sub(cur.ExchangeAt) < staleExchange {
			return cur, nil
		}
		return m.restart(ctx, op, cur, sdk.Internal)
	default:
		return cur, nil
	}
	if !cur.ExpiresAt.IsZero() && !now.Before(cur.ExpiresAt) {
		return m.restart(ctx, op, cur, sdk.Expired)
	}
	if due, err := m.claim(ctx, "scan", op.FlowID, cur.Generation, now); err != nil || !due {
		return cur, err
	}
	p, err := m.scanner(cur.Provider)
	if err != nil {
		return m.trouble(ctx, op, cur, err)
	}
	st, err := p.PollScan(ctx, cur.UUID)
	return m.apply(ctx, op, cur, st, err)
}

// Callback applies the vendor's redirect to the callback URL of
// provider: state is its state parameter and query all of its
// parameters. A callback for another provider, for an older QR session of
// the flow (the state differs) or for a session that is past waiting
// changes nothing.
func (m *Machine) Callback(ctx context.Context, op Op, cur Session, provider, state string, query map[string]string) (Session, error) {
	if cur.State == "" || state != cur.State || provider != cur.Provider || !inPhases(cur.Phase, live) {
		return cur, nil
	}
	p, err := m.scanner(cur.Provider)
	if err != nil {
		return m.trouble(ctx, op, cur, err)
	}
	st, err := p.ScanCallback(ctx, cur.UUID, query)
	return m.apply(ctx, op, cur, st, err)
}

// healing reports whether an error of kind k is healed with a fresh QR.
func healing(k sdk.Kind) bool {
	switch k {
	case sdk.CodeReused, sdk.CodeInvalid, sdk.UUIDInvalid, sdk.Expired, sdk.Cancelled:
		return true
	}
	return false
}

// apply acts on a vendor's answer about session s.
func (m *Machine) apply(ctx context.Context, op Op, s Session, st sdk.ScanStatus, err error) (Session, error) {
	if err != nil {
		if k := sdk.KindOf(err); healing(k) {
			return m.restart(ctx, op, s, k)
		}
		return m.trouble(ctx, op, s, err)
	}
	switch st.State {
	case sdk.ScanWaiting, sdk.ScanScanned:
		phase := Waiting
		if st.State == sdk.ScanScanned {
			phase = Scanned
		}
		if s.Phase == phase && s.Trouble == sdk.KindUnknown {
			return s, nil
		}
		out, _, err := m.guarded(ctx, op, s.Generation, live, func(x *Session) {
			x.Phase, x.Trouble = phase, sdk.KindUnknown
		})
		return out, err
	case sdk.ScanConfirmed:
		if st.Code == "" {
			return m.trouble(ctx, op, s, sdk.E(sdk.Internal, "confirmed without a code"))
		}
		return m.exchange(ctx, op, s, st.Code)
	case sdk.ScanExpired:
		return m.restart(ctx, op, s, sdk.Expired)
	case sdk.ScanCancelled:
		return m.restart(ctx, op, s, sdk.Cancelled)
	}
	return m.trouble(ctx, op, s, sdk.E(sdk.Internal, "unknown scan state"))
}

// exchange turns a confirmed code into the identity, once: the request
// that stores the code's marker first exchanges it; every other request
// leaves the flow to it and answers from the flow.
func (m *Machine) exchange(ctx context.Context, op Op, s Session, code string) (Session, error) {
	now := m.o.Now()
	sum := sha256.Sum256([]byte(code))
	key := "exchange:" + s.Provider + ":" + hex.EncodeToString(sum[:])
	_, stored, err := m.o.KV.PutIfAbsent(ctx, key, []byte(op.FlowID), now.Add(claimTTL))
	if err != nil {
		return s, fmt.Errorf("scan: claim code: %w", err)
	}
	if !stored {
		return s, nil
	}
	s, applied, err := m.guarded(ctx, op, s.Generation, live, func(x *Session) {
		x.Phase, x.ExchangeAt, x.Trouble = Exchanging, now, sdk.KindUnknown
	})
	if err != nil || !applied {
		return s, err
	}
	p, err := m.scanner(s.Provider)
	if err != nil {
		return m.fail(ctx, op, s, err)
	}
	id, err := p.ExchangeCode(ctx, s.UUID, code)
	if err != nil {
		if k := sdk.KindOf(err); healing(k) {
			return m.restart(ctx, op, s, k)
		}
		return m.fail(ctx, op, s, err)
	}
	out, _, err := m.guarded(ctx, op, s.Generation, []Phase{Exchanging}, func(x *Session) {
		x.Phase, x.Identity = Done, &id
	})
	return out, err
}

// restart replaces session cur with a fresh one because of an error of
// kind k, unless another request replaced it first. The error and, when a
// fresh QR is showing, the recovery are counted by the request that
// replaced it.
func (m *Machine) restart(ctx context.Context, op Op, cur Session, k sdk.Kind) (Session, error) {
	next := m.start(ctx, op, cur.Provider, k)
	s, err := op.Update(ctx, func(s *Session) error {
		if s.Generation != cur.Generation {
			return errSuperseded
		}
		n := next
		n.Generation = s.Generation + 1
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
	if next.Phase == Waiting {
		m.o.Observer.Recovery(op.Portal, cur.Provider, k)
	}
	m.o.Logger.InfoContext(ctx, "scan: fresh QR session", slog.String("provider", cur.Provider), slog.String("kind", k.String()))
	return s, nil
}

// trouble records a vendor error that a later poll may clear.
func (m *Machine) trouble(ctx context.Context, op Op, s Session, err error) (Session, error) {
	k := sdk.KindOf(err)
	m.o.Observer.Error(op.Portal, s.Provider, k)
	m.log(ctx, "scan: vendor trouble", s.Provider, err)
	if s.Trouble == k {
		return s, nil
	}
	out, _, uerr := m.guarded(ctx, op, s.Generation, live, func(x *Session) { x.Trouble = k })
	return out, uerr
}

// fail ends an exchange that failed for a reason a fresh QR does not heal
// at once (the vendor is down): the page offers a retry.
func (m *Machine) fail(ctx context.Context, op Op, s Session, err error) (Session, error) {
	k := sdk.KindOf(err)
	m.o.Observer.Error(op.Portal, s.Provider, k)
	m.log(ctx, "scan: exchange failed", s.Provider, err)
	out, _, uerr := m.guarded(ctx, op, s.Generation, []Phase{Exchanging}, func(x *Session) {
		x.Phase, x.Trouble = Failed, k
	})
	return out, uerr
}

func (m *Machine) log(ctx context.Context, msg, provider string, err error) {
	m.o.Logger.WarnContext(ctx, msg,
		slog.String("provider", provider),
		slog.String("kind", sdk.KindOf(err).String()),
		slog.String("vendor_code", sdk.VendorCodeOf(err)),
		slog.Any("error", err))
}

// randomState returns 128 random bits for a state parameter.
func randomState() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic("scan: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
