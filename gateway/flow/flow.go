// Package flow keeps the server-side state of multi-step journeys
// (real-name registration, login, phone change). A flow is a typed state
// value, sealed and stored under a random id, bound to the browser that
// started it, expiring after a deadline, and updated with optimistic
// concurrency so that a double click, a duplicate callback or a second
// replica cannot advance the same step twice.
package flow

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/shiming-id/shiming/gateway/pii"
	"github.com/shiming-id/shiming/gateway/store"
)

var (
	// ErrNotFound is returned for an unknown or expired flow.
	ErrNotFound = errors.New("flow: not found or expired")
	// ErrForeign is returned when a flow is used from a browser other than
	// the one that started it.
	ErrForeign = errors.New("flow: belongs to another browser")
	// ErrConflict is returned when updates kept racing.
	ErrConflict = errors.New("flow: concurrent update")
)

// Engine stores flows.
type Engine struct {
	store store.Flows
	keys  *pii.Keyring
	now   func() time.Time
}

// NewEngine returns an engine over a flow store.
func NewEngine(s store.Flows, keys *pii.Keyring, now func() time.Time) *Engine {
	return &Engine{store: s, keys: keys, now: now}
}

// Flow is a journey's state S with its bookkeeping.
type Flow[S any] struct {
	ID        string
	Kind      string
	Binding   string // the browser binding the flow belongs to
	State     S
	Version   int64
	CreatedAt time.Time
	ExpiresAt time.Time
}

// NewID returns a random 128-bit id in URL-safe base64 (22 characters).
func NewID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic("flow: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func purpose(kind string) string { return "flow:" + kind }

func (e *Engine) encode(kind string, state any) ([]byte, error) {
	b, err := json.Marshal(state)
	if err != nil {
		return nil, fmt.Errorf("flow %s: encode: %w", kind, err)
	}
	return e.keys.Seal(purpose(kind), b), nil
}

// Create starts a flow of kind for the browser binding, living for ttl.
func Create[S any](ctx context.Context, e *Engine, kind, binding string, ttl time.Duration, state S) (*Flow[S], error) {
	now := e.now().UTC()
	sealed, err := e.encode(kind, state)
	if err != nil {
		return nil, err
	}
	f := &Flow[S]{ID: NewID(), Kind: kind, Binding: binding, State: state, Version: 1, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	rec := store.Flow{ID: f.ID, Kind: kind, SessionID: binding, State: sealed, Version: 1, CreatedAt: now, UpdatedAt: now, ExpiresAt: f.ExpiresAt}
	if err := e.store.CreateFlow(ctx, rec); err != nil {
		return nil, fmt.Errorf("flow %s: create: %w", kind, err)
	}
	return f, nil
}

// Load returns a flow of kind for the browser binding. An empty binding
// skips the browser check; only callbacks that arrive from another device
// (a phone's browser) may pass it, and they must not learn the state.
func Load[S any](ctx context.Context, e *Engine, kind, id, binding string) (*Flow[S], error) {
	rec, err := e.store.GetFlow(ctx, id, e.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("flow %s: load: %w", kind, err)
	}
	if rec.Kind != kind {
		return nil, ErrNotFound
	}
	if binding != "" && subtle.ConstantTimeCompare([]byte(rec.SessionID), []byte(binding)) != 1 {
		return nil, ErrForeign
	}
	f := &Flow[S]{ID: rec.ID, Kind: rec.Kind, Binding: rec.SessionID, Version: rec.Version, CreatedAt: rec.CreatedAt, ExpiresAt: rec.ExpiresAt}
	plain, err := e.keys.Open(purpose(kind), rec.State)
	if err != nil {
		return nil, fmt.Errorf("flow %s: open state: %w", kind, err)
	}
	if err := json.Unmarshal(plain, &f.State); err != nil {
		return nil, fmt.Errorf("flow %s: decode state: %w", kind, err)
	}
	return f, nil
}

// Save writes a flow loaded earlier. It fails with store.ErrConflict when
// another request saved it in between; callers that can redo their change
// use Update instead.
func Save[S any](ctx context.Context, e *Engine, f *Flow[S]) error {
	sealed, err := e.encode(f.Kind, f.State)
	if err != nil {
		return err
	}
	rec := store.Flow{ID: f.ID, Kind: f.Kind, SessionID: f.Binding, State: sealed, Version: f.Version,
		CreatedAt: f.CreatedAt, UpdatedAt: e.now().UTC(), ExpiresAt: f.ExpiresAt}
	out, err := e.store.UpdateFlow(ctx, rec)
	if err != nil {
		return fmt.Errorf("flow %s: save: %w", f.Kind, err)
	}
	f.Version = out.Version
	return nil
}

// Update loads a flow, applies change and saves it, retrying a few times
// when a concurrent request saved first. change must be a pure function
// of the state: it may run more than once. If change returns an error the
// flow is not saved and the error is returned.
func Update[S any](ctx context.Context, e *Engine, kind, id, binding string, change func(*S) error) (*Flow[S], error) {
	for range 5 {
		f, err := Load[S](ctx, e, kind, id, binding)
		if err != nil {
			return nil, err
		}
		if err := change(&f.State); err != nil {
			return f, err
		}
		err = Save(ctx, e, f)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		return f, err
	}
	return nil, ErrConflict
}

// Delete ends a flow.
func Delete(ctx context.Context, e *Engine, id string) error {
	if err := e.store.DeleteFlow(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("flow: delete: %w", err)
	}
	return nil
}
