// Package registration is the exam sign-up domain behind the gateway: the
// nine registration steps of a candidate as a server-side state machine,
// the registration window, the preliminary automatic review, and what
// operators need (catalog import, statistics, export). It knows the
// gateway only through the small interfaces declared in this file.
package registration

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

// Candidate is a signed-in, real-name-verified person, as the gateway
// knows them. Implementations must be safe for concurrent use.
type Candidate interface {
	AccountID() string
	// Name is the verified name.
	Name() string
	// IDNumber is the full resident identity number. Never log it; show it
	// only through cnid.MaskID.
	IDNumber() string
	// BirthDate is derived from the ID number by the gateway.
	BirthDate() time.Time
	Gender() cnid.Gender
	// Phone is the current mobile number. It is read at render time and
	// never copied into the registration store, so that a phone change
	// shows at once.
	Phone() string
	// Evidence lists how the identity was verified.
	Evidence() []Evidence
}

// Evidence is one verification of a candidate's identity.
type Evidence struct {
	// Provider is "wechat", "alipay", "ctid" or "oidc:<issuer>".
	Provider string
	// Level is what was verified: "phone", "name_id", "face", "ctid".
	Level string
	At    time.Time
}

// ErrNotSignedIn is returned by Candidates.Current and
// OperatorSessions.Current when the request carries no session.
var ErrNotSignedIn = errors.New("registration: not signed in")

// Candidates finds candidates for the registration pages.
type Candidates interface {
	// Current returns the candidate signed in on r and the portal id of
	// their session, or an error wrapping ErrNotSignedIn.
	Current(r *http.Request) (Candidate, string, error)
	// Lookup returns a candidate by account id, for status pages and the
	// export, or an error wrapping ErrNotFound.
	Lookup(ctx context.Context, accountID string) (Candidate, error)
}

// Auditor keeps the audit trail. Kinds written by this package start with
// "registration.".
type Auditor interface {
	Record(ctx context.Context, kind, actor string, detail map[string]string) error
}

// ErrBadCredentials is returned by Operators.Authenticate for an unknown
// username and for a wrong password alike.
var ErrBadCredentials = errors.New("registration: bad operator credentials")

// Operators checks exam-operator credentials. Passwords are stored as
// argon2id PHC strings by the gateway.
type Operators interface {
	// Authenticate returns nil when password is the operator's password,
	// and an error wrapping ErrBadCredentials otherwise. It should take
	// about as long for an unknown username as for a wrong password.
	Authenticate(ctx context.Context, username, password string) error
}

// OperatorSessions keeps operators signed in, apart from candidate
// sessions. The gateway's server-side sessions satisfy it.
type OperatorSessions interface {
	// SignIn starts a new operator session (a fresh session id) on w.
	SignIn(w http.ResponseWriter, r *http.Request, username string) error
	// Current returns the operator signed in on r, or an error wrapping
	// ErrNotSignedIn.
	Current(r *http.Request) (string, error)
	// SignOut ends the operator session of r.
	SignOut(w http.ResponseWriter, r *http.Request) error
}
