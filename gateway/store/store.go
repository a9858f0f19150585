// Package store defines what the gateway keeps: accounts with their
// verification evidence and provider links, server-side sessions, flow
// state, short-lived single-use keys, rate counters and the audit chain.
//
// The interfaces are small and storage-agnostic. Personal data arrives
// here already sealed or hashed (see package pii): a store never sees a
// plain ID number or phone. Implementations live in sub-packages and all
// pass the suite in store/conformance.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

var (
	// ErrNotFound is returned when a record does not exist (or has expired).
	ErrNotFound = errors.New("store: not found")
	// ErrAlreadyExists is returned when a unique key is taken.
	ErrAlreadyExists = errors.New("store: already exists")
	// ErrConflict is returned when an optimistic update lost a race: the
	// record's version is no longer the one the caller read.
	ErrConflict = errors.New("store: version conflict")
)

// Account is a candidate's account. ID numbers, names and phones are kept
// sealed (AEAD) with a keyed hash beside them for lookups.
type Account struct {
	ID             string
	IDNumberHash   string // unique
	IDNumberSealed []byte
	NameSealed     []byte
	PhoneHash      string // unique
	PhoneSealed    []byte
	PasswordHash   string // argon2id, PHC string format
	Portal         string // the portal the account was registered from
	CreatedAt      time.Time
	UpdatedAt      time.Time
	// Version increases by one with every update.
	Version int64
}

// Evidence records one verification of an account's identity: which
// provider vouched, at what level, when, with the vendor's reference.
type Evidence struct {
	AccountID  string
	Provider   string // wechat, alipay, ctid, sms, oidc:<issuer>
	Level      string // phone, name_id, face, ctid
	Reference  string
	VerifiedAt time.Time
}

// Link ties an identity at a provider to an account. Provider is the
// namespace (wechat, alipay, ctid, oidc:<issuer>), Subject the stable id
// there, so no provider can claim another's subjects.
type Link struct {
	Provider  string
	Subject   string
	AccountID string
	CreatedAt time.Time
}

// Accounts keeps accounts, their evidence and their links.
type Accounts interface {
	// CreateAccount stores a new account with its first evidence and
	// links, atomically. ErrAlreadyExists when the ID number hash, the
	// phone hash or a link is taken.
	CreateAccount(ctx context.Context, a Account, evidence []Evidence, links []Link) error
	GetAccount(ctx context.Context, id string) (Account, error)
	GetAccountByIDNumber(ctx context.Context, idNumberHash string) (Account, error)
	GetAccountByPhone(ctx context.Context, phoneHash string) (Account, error)
	// UpdateAccount replaces an account if its stored version equals
	// a.Version, and returns it with the version incremented. ErrConflict
	// when the version moved; ErrAlreadyExists when the new phone hash
	// belongs to another account.
	UpdateAccount(ctx context.Context, a Account) (Account, error)
	AddEvidence(ctx context.Context, e Evidence) error
	ListEvidence(ctx context.Context, accountID string) ([]Evidence, error)
	// CreateLink stores a link; ErrAlreadyExists when the provider
	// subject is linked already.
	CreateLink(ctx context.Context, l Link) error
	GetLink(ctx context.Context, provider, subject string) (Link, error)
	ListLinks(ctx context.Context, accountID string) ([]Link, error)
}

// Session is a server-side browser session. ID is a hash of the random
// token in the cookie, so a copy of the store yields no usable cookie.
type Session struct {
	ID        string
	AccountID string // empty before sign-in
	Data      []byte // sealed session values
	CreatedAt time.Time
	// LastSeenAt and ExpiresAt move with activity; ExpiresAt never passes
	// AbsoluteExpiresAt.
	LastSeenAt        time.Time
	ExpiresAt         time.Time
	AbsoluteExpiresAt time.Time
}

// Sessions keeps server-side sessions.
type Sessions interface {
	// CreateSession stores a new session; ErrAlreadyExists on an id clash.
	CreateSession(ctx context.Context, s Session) error
	// GetSession returns a session that has not expired at now.
	GetSession(ctx context.Context, id string, now time.Time) (Session, error)
	// UpdateSession replaces a session's data and times; ErrNotFound if
	// it is gone.
	UpdateSession(ctx context.Context, s Session) error
	// TouchSession moves only a session's LastSeenAt and ExpiresAt, so an
	// activity update never overwrites data saved by a concurrent request.
	// ErrNotFound if the session is gone.
	TouchSession(ctx context.Context, id string, lastSeenAt, expiresAt time.Time) error
	DeleteSession(ctx context.Context, id string) error
	// DeleteAccountSessions ends every session of an account.
	DeleteAccountSessions(ctx context.Context, accountID string) (int, error)
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error)
}

// Flow is the server-side state of a multi-step journey.
type Flow struct {
	ID        string
	Kind      string // realname, login, phone_change, oidc, ...
	SessionID string // the session the flow is bound to
	State     []byte // sealed, owned by the flow's package
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
	ExpiresAt time.Time
}

// Flows keeps flow state with optimistic concurrency, so duplicate
// requests and several replicas cannot both advance a step.
type Flows interface {
	CreateFlow(ctx context.Context, f Flow) error
	// GetFlow returns a flow that has not expired at now.
	GetFlow(ctx context.Context, id string, now time.Time) (Flow, error)
	// UpdateFlow replaces a flow if its stored version equals f.Version,
	// and returns it with the version incremented; ErrConflict otherwise.
	UpdateFlow(ctx context.Context, f Flow) (Flow, error)
	DeleteFlow(ctx context.Context, id string) error
	DeleteExpiredFlows(ctx context.Context, now time.Time) (int, error)
}

// KV keeps short-lived keys: single-use markers (a code exchanged once),
// indexes from a vendor's state parameter to a flow, remembered results
// of a first exchange.
type KV interface {
	// PutIfAbsent stores value under key unless a live value is there. It
	// returns the live value and stored=false when the key was taken.
	PutIfAbsent(ctx context.Context, key string, value []byte, expiresAt time.Time) (existing []byte, stored bool, err error)
	// Put stores value under key, replacing any value.
	Put(ctx context.Context, key string, value []byte, expiresAt time.Time) error
	// Get returns a value that has not expired at now.
	Get(ctx context.Context, key string, now time.Time) ([]byte, error)
	Delete(ctx context.Context, key string) error
	DeleteExpiredKV(ctx context.Context, now time.Time) (int, error)
}

// Window is the fixed counter window of the given length that holds now,
// as every Counters implementation keys it: the length in whole
// microseconds, the window's start (now in UTC and whole microseconds,
// truncated to the length since the zero time) and its end.
func Window(length time.Duration, now time.Time) (us int64, start, end time.Time, err error) {
	length = length.Truncate(time.Microsecond)
	if length <= 0 {
		return 0, time.Time{}, time.Time{}, fmt.Errorf("window %v must be at least a microsecond", length)
	}
	start = now.UTC().Truncate(time.Microsecond).Truncate(length)
	return length.Microseconds(), start, start.Add(length), nil
}

// Counters count events in fixed time windows for rate limits.
type Counters interface {
	// Incr adds n to key's counter in the window of the given length that
	// contains now, and returns the new total for that window.
	Incr(ctx context.Context, key string, n int64, window time.Duration, now time.Time) (int64, error)
	// Count returns key's total in the window containing now.
	Count(ctx context.Context, key string, window time.Duration, now time.Time) (int64, error)
	// Reset clears key in every window.
	Reset(ctx context.Context, key string) error
	DeleteExpiredCounters(ctx context.Context, now time.Time) (int, error)
}

// AuditRecord is one entry of the append-only audit chain. Hash covers
// the record and the previous record's hash (see AuditHash), so a changed
// or removed record breaks the chain.
type AuditRecord struct {
	Seq      int64 // assigned by the store, from 1, without gaps
	Time     time.Time
	Kind     string // login, phone_change, export, operator, ...
	Actor    string // account or operator id, or "system"
	Subject  string // what was acted on, masked
	Detail   []byte // JSON, masked
	PrevHash []byte
	Hash     []byte
}

// Audit keeps the audit chain.
type Audit interface {
	// AppendAudit assigns the next Seq, links the record to the last one
	// with AuditHash, stores it and returns it. Appends are serialized.
	AppendAudit(ctx context.Context, r AuditRecord) (AuditRecord, error)
	// ListAudit returns up to limit records with Seq > after, in order.
	ListAudit(ctx context.Context, after int64, limit int) ([]AuditRecord, error)
	// AuditHead returns the Seq and Hash of the last appended record, kept
	// apart from the records, so that removing the newest records shows.
	// An empty chain has Seq 0 and no hash.
	AuditHead(ctx context.Context) (seq int64, hash []byte, err error)
}

// Store is everything the gateway keeps in one database.
type Store interface {
	Accounts
	Sessions
	Flows
	KV
	Counters
	Audit
	// Ping reports whether the database answers and is fully migrated.
	Ping(ctx context.Context) error
	Close() error
}
