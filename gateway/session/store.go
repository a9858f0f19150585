// Package session keeps browser sessions on the server: the cookie carries
// only a random token, and the session's values live sealed in a
// store.Sessions, behind a gorilla/sessions Store.
//
// # What is where
//
// The cookie value is 32 random bytes from crypto/rand, base64url without
// padding (43 characters), and nothing else. The store key is the hex
// SHA-256 of that token, so a copy of the database yields no usable
// cookie. The values are a JSON object of string keys to string values,
// bound to the session id and sealed with pii.Keyring.Seal("session", …).
// Only strings are accepted: flows keep their state in their own records
// and put nothing but a flow id here, and JSON of strings needs no type
// registry (unlike gob) and cannot instantiate unexpected types on load.
//
// # Lifetimes
//
// The cookie is a browser-session cookie (no Expires or Max-Age), so
// closing the browser ends the session on a shared computer, as the
// candidate guide asks. On the server a session ends after IdleTimeout
// without activity (default 30 minutes) and in any case AbsoluteTimeout
// after sign-in (default 8 hours), the OWASP ranges for an all-day task
// (ASVS 7.3.1, 7.3.2). Loading a session counts as activity; the idle
// deadline is written back only when it would move by more than a minute,
// so a request that only reads its session costs one read, not a write.
//
// # Rotation
//
// Manager.SignIn and Manager.Renew issue a new token and id, carry the
// values over and delete the old record, so the previous cookie is dead
// (ASVS 7.2.4). Manager.Destroy ends a session on "完成并退出", and
// Manager.EndAccount ends every session of an account (ASVS 7.4.1, 7.4.3).
package session

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/sessions"

	"github.com/shiming-id/shiming/gateway/pii"
	"github.com/shiming-id/shiming/gateway/store"
)

const (
	// DefaultCookieName names the cookie on plain-http loopback; over
	// https the name gets the "__Host-" prefix.
	DefaultCookieName = "shiming_session"
	// DefaultIdleTimeout ends a session after this long without activity.
	DefaultIdleTimeout = 30 * time.Minute
	// DefaultAbsoluteTimeout ends a session this long after sign-in,
	// whatever the activity.
	DefaultAbsoluteTimeout = 8 * time.Hour

	// HostPrefix is the cookie-name prefix that makes browsers insist on
	// Secure, Path=/ and no Domain.
	HostPrefix = "__Host-"

	// touchSlack is how far the idle deadline must move before an
	// activity-only update is written.
	touchSlack = time.Minute
	// tokenBytes is the entropy of a cookie token (ASVS 7.2.3 asks ≥ 128 bits).
	tokenBytes = 32
	// sealPurpose binds sealed session data to its use.
	sealPurpose = "session"
)

// tokenLen is the length of an encoded cookie token.
var tokenLen = base64.RawURLEncoding.EncodedLen(tokenBytes)

// ErrEnded is returned when a session was ended on the server (by
// Destroy, EndAccount or expiry) while a request was still using it.
var ErrEnded = errors.New("session: ended")

// Options configure a Store. Zero fields take the defaults.
type Options struct {
	// CookieName is the cookie's name; default DefaultCookieName. When
	// Secure is set the name is given the "__Host-" prefix.
	CookieName string
	// Secure marks the cookie Secure (and prefixes its name with
	// "__Host-"). Set it whenever the public URL is https; leave it off
	// only for plain-http loopback, where browsers would drop the cookie.
	Secure bool
	// IdleTimeout ends a session after this long without activity.
	IdleTimeout time.Duration
	// AbsoluteTimeout ends a session this long after it was signed in
	// (or created, before sign-in), whatever the activity.
	AbsoluteTimeout time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives debug and warning records; default discards.
	Logger *slog.Logger
}

// withDefaults fills zero fields and checks the rest.
func (o Options) withDefaults() (Options, error) {
	if o.CookieName == "" {
		o.CookieName = DefaultCookieName
	}
	if o.Secure && !strings.HasPrefix(o.CookieName, HostPrefix) {
		o.CookieName = HostPrefix + o.CookieName
	}
	if !o.Secure && strings.HasPrefix(o.CookieName, HostPrefix) {
		return o, fmt.Errorf("session: cookie name %q needs Secure: browsers drop __Host- cookies without it", o.CookieName)
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.AbsoluteTimeout == 0 {
		o.AbsoluteTimeout = DefaultAbsoluteTimeout
	}
	if o.IdleTimeout < 0 || o.AbsoluteTimeout < 0 {
		return o, errors.New("session: timeouts must be positive")
	}
	if o.IdleTimeout > o.AbsoluteTimeout {
		return o, fmt.Errorf("session: idle timeout %s exceeds absolute timeout %s", o.IdleTimeout, o.AbsoluteTimeout)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// Store is a gorilla/sessions Store over a store.Sessions. Use it through
// a Manager; it is exported so that code written against
// sessions.Store works too.
type Store struct {
	db   store.Sessions
	keys *pii.Keyring
	opts Options
}

// NewStore returns a Store keeping sessions in db, sealed with keys.
func NewStore(db store.Sessions, keys *pii.Keyring, opts Options) (*Store, error) {
	if db == nil || keys == nil {
		return nil, errors.New("session: a store and a keyring are required")
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Store{db: db, keys: keys, opts: o}, nil
}

// CookieName returns the cookie name in use (with its prefix, if any).
func (s *Store) CookieName() string { return s.opts.CookieName }

// stateKey is the Values key under which a session's server-side state
// travels with a *sessions.Session. Its type is unexported, so it never
// collides with a caller's string key and is never encoded.
type stateKey struct{}

// state is what the Store knows about one loaded session.
type state struct {
	token   string        // cookie token; empty until the session is stored
	rec     store.Session // the stored record; rec.ID empty until stored
	encoded []byte        // the values as last read or written, to skip unchanged writes
}

func (st *state) stored() bool { return st.rec.ID != "" }

// stateOf returns the state of sess, adding an empty one to sessions the
// Store did not make.
func stateOf(sess *sessions.Session) *state {
	if st, ok := sess.Values[stateKey{}].(*state); ok {
		return st
	}
	st := &state{}
	sess.Values[stateKey{}] = st
	return st
}

// Get returns the session for name, loading it at most once per request
// through the gorilla registry.
func (s *Store) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(s, name)
}

// New loads the session named by the request's cookie. A missing,
// malformed, unknown, expired or undecryptable cookie yields a fresh
// session and no error: the candidate simply starts again. Only a
// failing database is an error, and a fresh session is returned with it,
// as the gorilla registry requires.
func (s *Store) New(r *http.Request, name string) (*sessions.Session, error) {
	sess := sessions.NewSession(s, name)
	opts := s.cookieOptions()
	sess.Options = &opts
	sess.IsNew = true
	st := stateOf(sess)

	c, err := r.Cookie(name)
	if err != nil {
		return sess, nil
	}
	if !validToken(c.Value) {
		s.opts.Logger.DebugContext(r.Context(), "session cookie malformed")
		return sess, nil
	}
	id := hashToken(c.Value)
	now := s.opts.Now()
	rec, err := s.db.GetSession(r.Context(), id, now)
	if errors.Is(err, store.ErrNotFound) {
		s.opts.Logger.DebugContext(r.Context(), "session unknown or expired")
		return sess, nil
	}
	if err != nil {
		return sess, fmt.Errorf("session: load: %w", err)
	}
	if !live(rec, now) {
		return sess, nil
	}
	values, encoded, err := s.open(rec)
	if err != nil {
		s.opts.Logger.WarnContext(r.Context(), "session data cannot be opened", slog.String("session_ref", ref(id)), slog.Any("error", err))
		return sess, nil
	}
	for k, v := range values {
		sess.Values[k] = v
	}
	sess.ID = rec.ID
	sess.IsNew = false
	st.token, st.rec, st.encoded = c.Value, rec, encoded

	if err := s.touch(r, st, now); err != nil {
		// The session is usable; the next request tries again.
		s.opts.Logger.WarnContext(r.Context(), "session touch failed", slog.String("session_ref", ref(id)), slog.Any("error", err))
	}
	return sess, nil
}

// touch moves the idle deadline of a loaded session forward, writing
// only when the deadline would move by more than touchSlack: this runs
// on every request that reads its session.
func (s *Store) touch(r *http.Request, st *state, now time.Time) error {
	next := s.idleDeadline(now, st.rec.AbsoluteExpiresAt)
	if next.Sub(st.rec.ExpiresAt) <= touchSlack {
		return nil
	}
	if err := s.db.TouchSession(r.Context(), st.rec.ID, now, next); err != nil {
		return fmt.Errorf("session: touch: %w", err)
	}
	st.rec.LastSeenAt, st.rec.ExpiresAt = now, next
	return nil
}

// Save stores the session's values. A session whose Options.MaxAge is
// negative is deleted and its cookie expired. A new session is stored
// only once it holds something, so anonymous page views cost no write;
// its cookie is set then. An existing session is written only when its
// values changed.
func (s *Store) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	st := stateOf(sess)
	if sess.Options != nil && sess.Options.MaxAge < 0 {
		return s.destroy(r, w, sess)
	}
	encoded, values, err := encodeValues(sess)
	if err != nil {
		return err
	}
	now := s.opts.Now()
	if !st.stored() {
		if len(values) == 0 {
			return nil
		}
		rec := store.Session{
			CreatedAt:         now,
			LastSeenAt:        now,
			AbsoluteExpiresAt: now.Add(s.opts.AbsoluteTimeout),
		}
		return s.create(r, w, sess, rec, encoded)
	}
	if string(encoded) == string(st.encoded) {
		return nil
	}
	rec := st.rec
	rec.Data = s.seal(rec.ID, encoded)
	rec.LastSeenAt = now
	rec.ExpiresAt = s.idleDeadline(now, rec.AbsoluteExpiresAt)
	err = s.db.UpdateSession(r.Context(), rec)
	if errors.Is(err, store.ErrNotFound) {
		s.forget(w, sess)
		return ErrEnded
	}
	if err != nil {
		return fmt.Errorf("session: save: %w", err)
	}
	st.rec, st.encoded = rec, encoded
	return nil
}

// create stores rec under a new token with the given encoded values, sets
// the cookie, and makes sess refer to it. rec's AccountID, CreatedAt,
// LastSeenAt and AbsoluteExpiresAt are the caller's.
func (s *Store) create(r *http.Request, w http.ResponseWriter, sess *sessions.Session, rec store.Session, encoded []byte) error {
	token, err := newToken()
	if err != nil {
		return err
	}
	rec.ID = hashToken(token)
	rec.ExpiresAt = s.idleDeadline(rec.LastSeenAt, rec.AbsoluteExpiresAt)
	rec.Data = s.seal(rec.ID, encoded)
	if err := s.db.CreateSession(r.Context(), rec); err != nil {
		return fmt.Errorf("session: create: %w", err)
	}
	st := stateOf(sess)
	st.token, st.rec, st.encoded = token, rec, encoded
	sess.ID = rec.ID
	sess.IsNew = false
	opts := s.cookieOptions()
	sess.Options = &opts
	http.SetCookie(w, sessions.NewCookie(sess.Name(), token, sess.Options))
	return nil
}

// destroy deletes the stored record, expires the cookie and empties sess.
func (s *Store) destroy(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	st := stateOf(sess)
	if st.stored() {
		if err := s.db.DeleteSession(r.Context(), st.rec.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("session: delete: %w", err)
		}
	}
	s.forget(w, sess)
	return nil
}

// forget expires the cookie and resets sess to a fresh, unstored session,
// so that a later Save in the same request starts a new one.
func (s *Store) forget(w http.ResponseWriter, sess *sessions.Session) {
	expire := s.cookieOptions()
	expire.MaxAge = -1
	http.SetCookie(w, sessions.NewCookie(sess.Name(), "", &expire))
	clear(sess.Values)
	sess.Values[stateKey{}] = &state{}
	sess.ID = ""
	sess.IsNew = true
	opts := s.cookieOptions()
	sess.Options = &opts
}

// cookieOptions are the attributes of every session cookie: a
// browser-session cookie (MaxAge 0: no Expires, no Max-Age), HttpOnly,
// SameSite=Lax, Path=/, Secure over https.
func (s *Store) cookieOptions() sessions.Options {
	return sessions.Options{
		Path:     "/",
		MaxAge:   0,
		Secure:   s.opts.Secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
}

// idleDeadline is the idle expiry for activity at now, capped by the
// absolute expiry.
func (s *Store) idleDeadline(now, absolute time.Time) time.Time {
	d := now.Add(s.opts.IdleTimeout)
	if d.After(absolute) {
		return absolute
	}
	return d
}

// live reports whether rec has expired neither way at now. The store
// filters by expiry already; this keeps a lagging store honest.
func live(rec store.Session, now time.Time) bool {
	return now.Before(rec.ExpiresAt) && now.Before(rec.AbsoluteExpiresAt)
}

// payload is the sealed form of a session's values. ID binds the data to
// its record, so sealed data copied onto another session does not open.
type payload struct {
	ID     string          `json:"id"`
	Values json.RawMessage `json:"values"`
}

func (s *Store) seal(id string, encoded []byte) []byte {
	b, err := json.Marshal(payload{ID: id, Values: encoded})
	if err != nil {
		// encoded came from json.Marshal, so this cannot fail.
		panic("session: marshal payload: " + err.Error())
	}
	return s.keys.Seal(sealPurpose, b)
}

// open returns rec's values and their encoding.
func (s *Store) open(rec store.Session) (map[string]string, []byte, error) {
	b, err := s.keys.Open(sealPurpose, rec.Data)
	if err != nil {
		return nil, nil, fmt.Errorf("session: open: %w", err)
	}
	var p payload
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, nil, fmt.Errorf("session: decode: %w", err)
	}
	if p.ID != rec.ID {
		return nil, nil, errors.New("session: data belongs to another session")
	}
	var values map[string]string
	if err := json.Unmarshal(p.Values, &values); err != nil {
		return nil, nil, fmt.Errorf("session: decode values: %w", err)
	}
	return values, p.Values, nil
}

// encodeValues returns the JSON of sess's string values. Keys and values
// of any other type are refused.
func encodeValues(sess *sessions.Session) ([]byte, map[string]string, error) {
	values := make(map[string]string, len(sess.Values))
	for k, v := range sess.Values {
		if _, ok := k.(stateKey); ok {
			continue
		}
		ks, ok := k.(string)
		if !ok {
			return nil, nil, fmt.Errorf("session: key %v is %T, want string", k, k)
		}
		vs, ok := v.(string)
		if !ok {
			return nil, nil, fmt.Errorf("session: value of %q is %T, want string", ks, v)
		}
		values[ks] = vs
	}
	b, err := json.Marshal(values) // map keys are sorted: equal values, equal bytes
	if err != nil {
		return nil, nil, fmt.Errorf("session: encode: %w", err)
	}
	return b, values, nil
}

// newToken returns a fresh cookie token.
func newToken() (string, error) {
	b := make([]byte, tokenBytes)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		return "", fmt.Errorf("session: random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// validToken reports whether v has the shape of a token we issue.
func validToken(v string) bool {
	if len(v) != tokenLen {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(v)
	return err == nil && len(b) == tokenBytes
}

// hashToken returns the store id for a cookie token.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// ref is a short, non-secret reference to a session id for logs.
func ref(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

var _ sessions.Store = (*Store)(nil)
