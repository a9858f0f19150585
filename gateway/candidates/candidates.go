// Package candidates is the gateway's side of the registration app's
// contract: signed-in candidates read from the session and the account
// store, exam operators from the configuration, and operator sessions kept
// apart from candidate sessions in a cookie of their own.
package candidates

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/shiming-id/shiming/gateway/account"
	"github.com/shiming-id/shiming/gateway/audit"
	"github.com/shiming-id/shiming/gateway/config"
	"github.com/shiming-id/shiming/gateway/password"
	"github.com/shiming-id/shiming/gateway/session"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
	"github.com/shiming-id/shiming/registration"
)

// candidate adapts an opened account.
type candidate struct {
	a        account.Account
	evidence []registration.Evidence
}

func (c candidate) AccountID() string                 { return c.a.ID }
func (c candidate) Name() string                      { return c.a.Name }
func (c candidate) IDNumber() string                  { return c.a.IDNumber }
func (c candidate) BirthDate() time.Time              { return c.a.BirthDate() }
func (c candidate) Gender() cnid.Gender               { return c.a.Gender() }
func (c candidate) Phone() string                     { return c.a.Phone }
func (c candidate) Evidence() []registration.Evidence { return c.evidence }

// Directory finds candidates for the registration app.
type Directory struct {
	sessions *session.Manager
	accounts *account.Service
}

// NewDirectory returns a directory over the candidate sessions and the
// account store.
func NewDirectory(s *session.Manager, a *account.Service) *Directory {
	return &Directory{sessions: s, accounts: a}
}

// Current returns the signed-in candidate. The portal is the one the
// account was registered from; pages use the portal in their path.
func (d *Directory) Current(r *http.Request) (registration.Candidate, string, error) {
	id, err := d.sessions.AccountID(r)
	if err != nil {
		return nil, "", fmt.Errorf("candidates: session: %w", err)
	}
	if id == "" {
		return nil, "", registration.ErrNotSignedIn
	}
	c, err := d.Lookup(r.Context(), id)
	if errors.Is(err, registration.ErrNotFound) {
		return nil, "", registration.ErrNotSignedIn
	}
	if err != nil {
		return nil, "", err
	}
	return c, c.(candidate).a.Portal, nil
}

// Lookup returns a candidate by account id.
func (d *Directory) Lookup(ctx context.Context, accountID string) (registration.Candidate, error) {
	a, err := d.accounts.ByID(ctx, accountID)
	if errors.Is(err, account.ErrNotFound) {
		return nil, fmt.Errorf("candidates: %w", registration.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("candidates: %w", err)
	}
	ev, err := d.accounts.Evidence(ctx, accountID)
	if err != nil {
		return nil, fmt.Errorf("candidates: %w", err)
	}
	c := candidate{a: a, evidence: make([]registration.Evidence, len(ev))}
	for i, e := range ev {
		c.evidence[i] = registration.Evidence{Provider: e.Provider, Level: e.Level, At: e.VerifiedAt}
	}
	return c, nil
}

// Operators checks operator credentials against argon2id hashes.
type Operators struct {
	hashes map[string]string
	dummy  string
}

// NewOperators returns the operator directory of the configuration.
func NewOperators(ops []config.Operator) (*Operators, error) {
	o := &Operators{hashes: make(map[string]string, len(ops))}
	for _, op := range ops {
		o.hashes[op.Username] = op.PasswordHash
	}
	dummy, err := password.Hash("not an operator password", password.DefaultParams)
	if err != nil {
		return nil, fmt.Errorf("candidates: %w", err)
	}
	o.dummy = dummy
	return o, nil
}

// Authenticate implements registration.Operators. An unknown username
// costs one hash verification, like a wrong password.
func (o *Operators) Authenticate(_ context.Context, username, pw string) error {
	h, ok := o.hashes[username]
	if !ok {
		_ = password.Verify(pw, o.dummy)
		return registration.ErrBadCredentials
	}
	if err := password.Verify(pw, h); err != nil {
		return fmt.Errorf("candidates: operator %s: %w", username, registration.ErrBadCredentials)
	}
	return nil
}

// operatorKey holds the operator's username in the operator session.
const operatorKey = "operator"

// OperatorSessions keeps operators signed in with a session manager of
// their own (its own cookie), so a candidate session on the same browser
// never carries operator rights or the other way round.
type OperatorSessions struct {
	m *session.Manager
}

// NewOperatorSessions wraps a session manager dedicated to operators.
func NewOperatorSessions(m *session.Manager) *OperatorSessions { return &OperatorSessions{m: m} }

// SignIn implements registration.OperatorSessions: a fresh session id.
func (o *OperatorSessions) SignIn(w http.ResponseWriter, r *http.Request, username string) error {
	if err := o.m.Renew(w, r); err != nil {
		return err
	}
	return o.m.Set(w, r, operatorKey, username)
}

// Current implements registration.OperatorSessions.
func (o *OperatorSessions) Current(r *http.Request) (string, error) {
	u, err := o.m.Get(r, operatorKey)
	if err != nil {
		return "", err
	}
	if u == "" {
		return "", registration.ErrNotSignedIn
	}
	return u, nil
}

// SignOut implements registration.OperatorSessions.
func (o *OperatorSessions) SignOut(w http.ResponseWriter, r *http.Request) error {
	return o.m.Destroy(w, r)
}

// Auditor adapts the audit log to the registration app's Auditor: the
// subject is the exam, or the account for a candidate's own records.
type Auditor struct {
	Log *audit.Log
}

// Record implements registration.Auditor.
func (a Auditor) Record(ctx context.Context, kind, actor string, detail map[string]string) error {
	subject := detail["exam"]
	if subject == "" {
		subject = detail["account"]
	}
	return a.Log.Record(ctx, kind, actor, subject, detail)
}

var (
	_ registration.Candidates       = (*Directory)(nil)
	_ registration.Operators        = (*Operators)(nil)
	_ registration.OperatorSessions = (*OperatorSessions)(nil)
	_ registration.Auditor          = Auditor{}
)
