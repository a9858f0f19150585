// Package account keeps candidate accounts: created once by real-name
// registration with their verification evidence, found by ID number, phone
// or linked provider identity, and changed only through explicit
// operations (phone change, password). Personal data is sealed and hashed
// with the pii keyring before it reaches storage.
package account

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/shiming-id/shiming/gateway/password"
	"github.com/shiming-id/shiming/gateway/pii"
	"github.com/shiming-id/shiming/gateway/store"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

var (
	// ErrNotFound is returned when no account matches.
	ErrNotFound = errors.New("account: not found")
	// ErrIDNumberTaken is returned when an account exists for the number.
	ErrIDNumberTaken = errors.New("account: ID number already registered")
	// ErrPhoneTaken is returned when another account has bound the phone.
	ErrPhoneTaken = errors.New("account: phone bound to another account")
	// ErrLinkTaken is returned when a provider identity is linked already.
	ErrLinkTaken = errors.New("account: provider identity already linked")
	// ErrWrongPassword is returned by CheckPassword.
	ErrWrongPassword = errors.New("account: wrong password")
)

// Seal purposes and lookup namespaces.
const (
	purposeIDNumber = "id_number"
	purposeName     = "name"
	purposePhone    = "phone"
)

// Account is an opened account.
type Account struct {
	ID        string
	Name      string
	IDNumber  string
	Phone     string
	Portal    string
	CreatedAt time.Time
	UpdatedAt time.Time

	rec store.Account
}

// BirthDate is derived from the ID number.
func (a Account) BirthDate() time.Time {
	id, err := cnid.Parse(a.IDNumber, time.Now())
	if err != nil {
		return time.Time{}
	}
	return id.BirthDate()
}

// Gender is derived from the ID number.
func (a Account) Gender() cnid.Gender {
	id, err := cnid.Parse(a.IDNumber, time.Now())
	if err != nil {
		return 0
	}
	return id.Gender()
}

// Evidence is one verification of an account's identity.
type Evidence struct {
	Provider   string // wechat, alipay, ctid, sms, oidc:<issuer>
	Level      string // phone, name_id, face, ctid
	Reference  string
	VerifiedAt time.Time
}

// Link is a provider identity to tie to an account.
type Link struct {
	Provider string
	Subject  string
}

// New describes an account to create.
type New struct {
	Name     string
	IDNumber string
	Phone    string
	Password string
	Portal   string
	Evidence []Evidence
	Links    []Link
}

// Service opens and changes accounts.
type Service struct {
	store  store.Accounts
	keys   *pii.Keyring
	params password.Params
	now    func() time.Time
	// dummy is a hash verified when no account matches, so that a login
	// for an unknown ID number costs as much as one for a known one.
	dummy string
	// hashing holds a slot per core: at most that many password hashes
	// run at once, the others queue. Each argon2id hash works through
	// its own 19 MiB; more hashes than cores only share the caches and
	// the memory bandwidth, so each costs more CPU and the memory grows
	// with the queue (BENCHMARKS.md).
	hashing chan struct{}
}

// NewService returns an account service.
func NewService(s store.Accounts, keys *pii.Keyring, params password.Params, now func() time.Time) (*Service, error) {
	dummy, err := password.Hash("not a password", params)
	if err != nil {
		return nil, fmt.Errorf("account: %w", err)
	}
	return &Service{store: s, keys: keys, params: params, now: now, dummy: dummy,
		hashing: make(chan struct{}, runtime.GOMAXPROCS(0))}, nil
}

// hash hashes a password when a hashing slot is free.
func (s *Service) hash(ctx context.Context, pw string) (string, error) {
	if err := s.acquire(ctx); err != nil {
		return "", err
	}
	defer s.release()
	return password.Hash(pw, s.params)
}

// verify checks a password against a hash when a hashing slot is free.
func (s *Service) verify(ctx context.Context, pw, hash string) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.release()
	return password.Verify(pw, hash)
}

func (s *Service) acquire(ctx context.Context) error {
	select {
	case s.hashing <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("account: waiting to hash a password: %w", ctx.Err())
	}
}

func (s *Service) release() { <-s.hashing }

// HashIDNumber returns the lookup hash of an ID number, also used as a
// stable, non-reversible key for rate limits and metrics-free logs.
func (s *Service) HashIDNumber(idNumber string) string {
	return s.keys.Lookup(purposeIDNumber, cnid.Normalize(idNumber))
}

// HashPhone returns the lookup hash of a phone number.
func (s *Service) HashPhone(phone string) string {
	return s.keys.Lookup(purposePhone, phone)
}

// Create stores a new account with its evidence and links. The password
// is hashed here; the caller has checked the policy.
func (s *Service) Create(ctx context.Context, n New) (Account, error) {
	id := cnid.Normalize(n.IDNumber)
	hash, err := s.hash(ctx, n.Password)
	if err != nil {
		return Account{}, fmt.Errorf("account: create: %w", err)
	}
	now := s.now().UTC()
	rec := store.Account{
		ID:             newID(),
		IDNumberHash:   s.HashIDNumber(id),
		IDNumberSealed: s.keys.SealString(purposeIDNumber, id),
		NameSealed:     s.keys.SealString(purposeName, n.Name),
		PhoneHash:      s.HashPhone(n.Phone),
		PhoneSealed:    s.keys.SealString(purposePhone, n.Phone),
		PasswordHash:   hash,
		Portal:         n.Portal,
		CreatedAt:      now,
		UpdatedAt:      now,
		Version:        1,
	}
	ev := make([]store.Evidence, len(n.Evidence))
	for i, e := range n.Evidence {
		ev[i] = store.Evidence{AccountID: rec.ID, Provider: e.Provider, Level: e.Level, Reference: e.Reference, VerifiedAt: e.VerifiedAt.UTC()}
	}
	links := make([]store.Link, len(n.Links))
	for i, l := range n.Links {
		links[i] = store.Link{Provider: l.Provider, Subject: l.Subject, AccountID: rec.ID, CreatedAt: now}
	}
	if err := s.store.CreateAccount(ctx, rec, ev, links); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			return Account{}, s.whichTaken(ctx, rec, links)
		}
		return Account{}, fmt.Errorf("account: create: %w", err)
	}
	return s.open(rec)
}

// whichTaken finds which unique key made a create fail.
func (s *Service) whichTaken(ctx context.Context, rec store.Account, links []store.Link) error {
	if _, err := s.store.GetAccountByIDNumber(ctx, rec.IDNumberHash); err == nil {
		return ErrIDNumberTaken
	}
	if _, err := s.store.GetAccountByPhone(ctx, rec.PhoneHash); err == nil {
		return ErrPhoneTaken
	}
	for _, l := range links {
		if _, err := s.store.GetLink(ctx, l.Provider, l.Subject); err == nil {
			return ErrLinkTaken
		}
	}
	return fmt.Errorf("account: create: %w", store.ErrAlreadyExists)
}

// ByID returns the account with the given id.
func (s *Service) ByID(ctx context.Context, id string) (Account, error) {
	return s.get(s.store.GetAccount(ctx, id))
}

// ByIDNumber returns the account registered for an ID number.
func (s *Service) ByIDNumber(ctx context.Context, idNumber string) (Account, error) {
	return s.get(s.store.GetAccountByIDNumber(ctx, s.HashIDNumber(idNumber)))
}

// ByPhone returns the account a phone is bound to.
func (s *Service) ByPhone(ctx context.Context, phone string) (Account, error) {
	return s.get(s.store.GetAccountByPhone(ctx, s.HashPhone(phone)))
}

// ByLink returns the account linked to a provider identity.
func (s *Service) ByLink(ctx context.Context, provider, subject string) (Account, error) {
	l, err := s.store.GetLink(ctx, provider, subject)
	if errors.Is(err, store.ErrNotFound) {
		return Account{}, ErrNotFound
	}
	if err != nil {
		return Account{}, fmt.Errorf("account: link: %w", err)
	}
	return s.ByID(ctx, l.AccountID)
}

func (s *Service) get(rec store.Account, err error) (Account, error) {
	if errors.Is(err, store.ErrNotFound) {
		return Account{}, ErrNotFound
	}
	if err != nil {
		return Account{}, fmt.Errorf("account: get: %w", err)
	}
	return s.open(rec)
}

func (s *Service) open(rec store.Account) (Account, error) {
	id, err := s.keys.OpenString(purposeIDNumber, rec.IDNumberSealed)
	if err != nil {
		return Account{}, fmt.Errorf("account %s: open ID number: %w", rec.ID, err)
	}
	name, err := s.keys.OpenString(purposeName, rec.NameSealed)
	if err != nil {
		return Account{}, fmt.Errorf("account %s: open name: %w", rec.ID, err)
	}
	phone, err := s.keys.OpenString(purposePhone, rec.PhoneSealed)
	if err != nil {
		return Account{}, fmt.Errorf("account %s: open phone: %w", rec.ID, err)
	}
	return Account{ID: rec.ID, Name: name, IDNumber: id, Phone: phone, Portal: rec.Portal,
		CreatedAt: rec.CreatedAt, UpdatedAt: rec.UpdatedAt, rec: rec}, nil
}

// CheckPassword verifies a password for the account with the given ID
// number. Unknown numbers cost the same as known ones and return
// ErrWrongPassword, so the answer reveals nothing about who is registered.
func (s *Service) CheckPassword(ctx context.Context, idNumber, pw string) (Account, error) {
	a, err := s.ByIDNumber(ctx, idNumber)
	if errors.Is(err, ErrNotFound) {
		if err := s.verify(ctx, pw, s.dummy); err != nil && !errors.Is(err, password.ErrMismatch) {
			return Account{}, err
		}
		return Account{}, ErrWrongPassword
	}
	if err != nil {
		return Account{}, err
	}
	if err := s.verify(ctx, pw, a.rec.PasswordHash); err != nil {
		if errors.Is(err, password.ErrMismatch) {
			return Account{}, ErrWrongPassword
		}
		return Account{}, fmt.Errorf("account %s: verify password: %w", a.ID, err)
	}
	return a, nil
}

// ChangePhone binds a new phone to an account. It retries once when a
// concurrent update moved the account's version.
func (s *Service) ChangePhone(ctx context.Context, accountID, phone string) (Account, error) {
	return s.update(ctx, accountID, func(rec *store.Account) {
		rec.PhoneHash = s.HashPhone(phone)
		rec.PhoneSealed = s.keys.SealString(purposePhone, phone)
	})
}

// SetPassword replaces an account's password.
func (s *Service) SetPassword(ctx context.Context, accountID, pw string) (Account, error) {
	hash, err := s.hash(ctx, pw)
	if err != nil {
		return Account{}, fmt.Errorf("account: set password: %w", err)
	}
	return s.update(ctx, accountID, func(rec *store.Account) { rec.PasswordHash = hash })
}

func (s *Service) update(ctx context.Context, accountID string, change func(*store.Account)) (Account, error) {
	for attempt := 0; ; attempt++ {
		rec, err := s.store.GetAccount(ctx, accountID)
		if errors.Is(err, store.ErrNotFound) {
			return Account{}, ErrNotFound
		}
		if err != nil {
			return Account{}, fmt.Errorf("account: update: %w", err)
		}
		change(&rec)
		rec.UpdatedAt = s.now().UTC()
		out, err := s.store.UpdateAccount(ctx, rec)
		switch {
		case err == nil:
			return s.open(out)
		case errors.Is(err, store.ErrConflict) && attempt == 0:
			continue
		case errors.Is(err, store.ErrAlreadyExists):
			return Account{}, ErrPhoneTaken
		default:
			return Account{}, fmt.Errorf("account: update: %w", err)
		}
	}
}

// AddEvidence records a verification of an account.
func (s *Service) AddEvidence(ctx context.Context, accountID string, e Evidence) error {
	err := s.store.AddEvidence(ctx, store.Evidence{AccountID: accountID, Provider: e.Provider, Level: e.Level,
		Reference: e.Reference, VerifiedAt: e.VerifiedAt.UTC()})
	if err != nil {
		return fmt.Errorf("account: add evidence: %w", err)
	}
	return nil
}

// Evidence lists an account's verifications, oldest first.
func (s *Service) Evidence(ctx context.Context, accountID string) ([]Evidence, error) {
	recs, err := s.store.ListEvidence(ctx, accountID)
	if err != nil {
		return nil, fmt.Errorf("account: evidence: %w", err)
	}
	out := make([]Evidence, len(recs))
	for i, r := range recs {
		out[i] = Evidence{Provider: r.Provider, Level: r.Level, Reference: r.Reference, VerifiedAt: r.VerifiedAt}
	}
	return out, nil
}

// Link ties a provider identity to an account.
func (s *Service) Link(ctx context.Context, accountID string, l Link) error {
	err := s.store.CreateLink(ctx, store.Link{Provider: l.Provider, Subject: l.Subject, AccountID: accountID, CreatedAt: s.now().UTC()})
	if errors.Is(err, store.ErrAlreadyExists) {
		return ErrLinkTaken
	}
	if err != nil {
		return fmt.Errorf("account: link: %w", err)
	}
	return nil
}

// Links lists the provider identities linked to an account.
func (s *Service) Links(ctx context.Context, accountID string) ([]Link, error) {
	recs, err := s.store.ListLinks(ctx, accountID)
	if err != nil {
		return nil, fmt.Errorf("account: links: %w", err)
	}
	out := make([]Link, len(recs))
	for i, r := range recs {
		out[i] = Link{Provider: r.Provider, Subject: r.Subject}
	}
	return out, nil
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newID returns a random account id: "a" and 26 base32 characters (128 bits).
func newID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic("account: crypto/rand failed: " + err.Error())
	}
	return "a" + strings.ToLower(idEncoding.EncodeToString(b))
}
