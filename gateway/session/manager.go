package session

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"

	"github.com/gorilla/sessions"

	"github.com/shiming-id/shiming/gateway/pii"
	"github.com/shiming-id/shiming/gateway/store"
)

// flowKeyPrefix prefixes the session key holding a flow id of one kind.
const flowKeyPrefix = "flow:"

// Manager is what handlers use: the current session of a request, sign
// in, renew, destroy, and small typed helpers. It is safe for concurrent
// use; the sessions it returns belong to one request.
type Manager struct {
	store *Store
}

// New returns a Manager keeping sessions in db, sealed with keys.
func New(db store.Sessions, keys *pii.Keyring, opts Options) (*Manager, error) {
	s, err := NewStore(db, keys, opts)
	if err != nil {
		return nil, err
	}
	return &Manager{store: s}, nil
}

// Store returns the gorilla Store underneath.
func (m *Manager) Store() *Store { return m.store }

// CookieName returns the session cookie's name.
func (m *Manager) CookieName() string { return m.store.opts.CookieName }

// Session returns the request's session, loading it once per request.
// A request without a live session gets a fresh one; the error is set
// only when the database failed.
func (m *Manager) Session(r *http.Request) (*sessions.Session, error) {
	return m.store.Get(r, m.store.opts.CookieName)
}

// Save stores the request's session if it changed. Call it before the
// response is written.
func (m *Manager) Save(w http.ResponseWriter, r *http.Request) error {
	sess, err := m.Session(r)
	if err != nil {
		return err
	}
	return m.store.Save(r, w, sess)
}

// AccountID returns the signed-in account, or "" before sign-in.
func (m *Manager) AccountID(r *http.Request) (string, error) {
	sess, err := m.Session(r)
	if err != nil {
		return "", err
	}
	return stateOf(sess).rec.AccountID, nil
}

// Get returns the value stored under key, or "".
func (m *Manager) Get(r *http.Request, key string) (string, error) {
	sess, err := m.Session(r)
	if err != nil {
		return "", err
	}
	v, _ := sess.Values[key].(string)
	return v, nil
}

// Set stores value under key and saves the session at once (setting the
// cookie if the session is new), so a redirect that follows cannot lose
// it. An empty value deletes the key.
func (m *Manager) Set(w http.ResponseWriter, r *http.Request, key, value string) error {
	sess, err := m.Session(r)
	if err != nil {
		return err
	}
	if value == "" {
		delete(sess.Values, key)
	} else {
		sess.Values[key] = value
	}
	return m.store.Save(r, w, sess)
}

// FlowID returns the id of the request's current flow of a kind
// (realname, login, phone_change, oidc, …), or "".
func (m *Manager) FlowID(r *http.Request, kind string) (string, error) {
	return m.Get(r, flowKeyPrefix+kind)
}

// SetFlowID binds a flow of a kind to the session; an empty id unbinds it.
func (m *Manager) SetFlowID(w http.ResponseWriter, r *http.Request, kind, id string) error {
	return m.Set(w, r, flowKeyPrefix+kind, id)
}

// SignIn makes the request's session belong to accountID under a new
// token: the values carry over, the old token stops working, and the
// absolute lifetime starts again from now (ASVS 7.2.4). Call it on every
// authentication, including re-authentication.
func (m *Manager) SignIn(w http.ResponseWriter, r *http.Request, accountID string) error {
	if accountID == "" {
		return errors.New("session: sign in: empty account id")
	}
	return m.renew(w, r, &accountID)
}

// Renew gives the request's session a new token and id, carrying its
// values and account over and deleting the old record, so the old cookie
// is dead. Call it on privilege changes that are not a sign-in (for
// example after a face verification); the absolute deadline is kept.
func (m *Manager) Renew(w http.ResponseWriter, r *http.Request) error {
	return m.renew(w, r, nil)
}

// SignOut gives the request's session a new token and id without an
// account, keeping its other values (the browser binding of open flows):
// the browser is signed out but can finish what it is doing.
func (m *Manager) SignOut(w http.ResponseWriter, r *http.Request) error {
	none := ""
	return m.renew(w, r, &none)
}

func (m *Manager) renew(w http.ResponseWriter, r *http.Request, accountID *string) error {
	sess, err := m.Session(r)
	if err != nil {
		return err
	}
	s := m.store
	st := stateOf(sess)
	encoded, _, err := encodeValues(sess)
	if err != nil {
		return err
	}
	now := s.opts.Now()
	rec := store.Session{
		AccountID:         st.rec.AccountID,
		CreatedAt:         now,
		LastSeenAt:        now,
		AbsoluteExpiresAt: st.rec.AbsoluteExpiresAt,
	}
	if accountID != nil {
		rec.AccountID = *accountID
	}
	if accountID != nil || !st.stored() {
		rec.AbsoluteExpiresAt = now.Add(s.opts.AbsoluteTimeout)
	}
	oldID := ""
	if st.stored() {
		oldID = st.rec.ID
	}
	if err := s.create(r, w, sess, rec, encoded); err != nil {
		return fmt.Errorf("session: renew: %w", err)
	}
	if oldID != "" {
		if err := s.db.DeleteSession(r.Context(), oldID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("session: renew: delete old: %w", err)
		}
	}
	return nil
}

// Destroy ends the request's session ("完成并退出"): the record is
// deleted, the cookie expired, and the values forgotten.
func (m *Manager) Destroy(w http.ResponseWriter, r *http.Request) error {
	sess, err := m.Session(r)
	if err != nil {
		// The database failed to load it; still tell the browser to drop
		// the cookie.
		if sess != nil {
			m.store.forget(w, sess)
		}
		return err
	}
	return m.store.destroy(r, w, sess)
}

// EndAccount ends every session of an account, for example after its
// phone number changed (ASVS 7.4.3), and returns how many ended.
func (m *Manager) EndAccount(ctx context.Context, accountID string) (int, error) {
	if accountID == "" {
		return 0, errors.New("session: end account: empty account id")
	}
	n, err := m.store.db.DeleteAccountSessions(ctx, accountID)
	if err != nil {
		return n, fmt.Errorf("session: end account: %w", err)
	}
	return n, nil
}

// DeleteExpired removes sessions that expired; run it now and then.
func (m *Manager) DeleteExpired(ctx context.Context) (int, error) {
	n, err := m.store.db.DeleteExpiredSessions(ctx, m.store.opts.Now())
	if err != nil {
		return n, fmt.Errorf("session: delete expired: %w", err)
	}
	return n, nil
}

// bindingKey holds the browser binding among the session values.
const bindingKey = "binding"

// Binding returns the random value that binds server-side flows to this
// browser (flow.Create's binding), creating it, and with it the session
// cookie, on first use. It carries over SignIn and Renew like every value
// and ends with Destroy, so a flow started before "完成并退出" cannot be
// resumed after it.
func (m *Manager) Binding(w http.ResponseWriter, r *http.Request) (string, error) {
	b, err := m.Get(r, bindingKey)
	if err != nil || b != "" {
		return b, err
	}
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("session: binding: %w", err)
	}
	b = base64.RawURLEncoding.EncodeToString(raw)
	if err := m.Set(w, r, bindingKey, b); err != nil {
		return "", err
	}
	return b, nil
}

// CurrentBinding returns the browser binding without creating one: "" for
// a browser that never started a flow. Callers must treat "" as "not the
// browser of any flow", never pass it to flow.Load (which skips the check
// for an empty binding).
func (m *Manager) CurrentBinding(r *http.Request) (string, error) {
	return m.Get(r, bindingKey)
}
