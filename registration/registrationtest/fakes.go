// Package registrationtest provides in-memory fakes of what the gateway
// gives the registration app — candidates, operators, their sessions and
// the audit trail — for tests only.
package registrationtest

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk/cnid"
	"github.com/shiming-id/shiming/registration"
)

// Cookie names the fakes read.
const (
	CandidateCookie = "registrationtest_account"
	OperatorCookie  = "registrationtest_operator"
)

// MakeID returns a valid ID number for a region code (six digits), a
// birth date and a gender.
func MakeID(region string, birth time.Time, g cnid.Gender) string {
	seq := 12 // even: female
	if g == cnid.Male {
		seq = 13
	}
	first17 := fmt.Sprintf("%s%s%03d", region, birth.Format("20060102"), seq)
	c, err := cnid.CheckChar(first17)
	if err != nil {
		panic("registrationtest: MakeID: " + err.Error())
	}
	return first17 + string(c)
}

// Candidate is a fake verified candidate whose phone can change.
type Candidate struct {
	mu       sync.Mutex
	id       string
	name     string
	number   string
	birth    time.Time
	gender   cnid.Gender
	phone    string
	evidence []registration.Evidence
}

// NewCandidate returns a candidate whose birth date and gender come from
// the ID number, as the gateway derives them.
func NewCandidate(accountID, name, idNumber, phone string) *Candidate {
	id, err := cnid.Parse(idNumber, time.Now())
	if err != nil {
		panic("registrationtest: NewCandidate: " + err.Error())
	}
	return &Candidate{
		id: accountID, name: name, number: id.String(), birth: id.BirthDate(), gender: id.Gender(), phone: phone,
		evidence: []registration.Evidence{{Provider: "wechat", Level: "face", At: time.Date(2022, 2, 20, 10, 0, 0, 0, time.UTC)}},
	}
}

// SetPhone changes the candidate's phone, as a phone change in the
// gateway does.
func (c *Candidate) SetPhone(phone string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.phone = phone
}

func (c *Candidate) AccountID() string    { return c.id }
func (c *Candidate) Name() string         { return c.name }
func (c *Candidate) IDNumber() string     { return c.number }
func (c *Candidate) BirthDate() time.Time { return c.birth }
func (c *Candidate) Gender() cnid.Gender  { return c.gender }
func (c *Candidate) Evidence() []registration.Evidence {
	return slices.Clone(c.evidence)
}

func (c *Candidate) Phone() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.phone
}

// Candidates is a fake candidate directory. The signed-in candidate is
// the account named by the CandidateCookie cookie; the portal of the
// session is the first path segment.
type Candidates struct {
	mu   sync.Mutex
	byID map[string]*Candidate
}

// NewCandidates returns a directory holding cs.
func NewCandidates(cs ...*Candidate) *Candidates {
	f := &Candidates{byID: map[string]*Candidate{}}
	for _, c := range cs {
		f.Add(c)
	}
	return f
}

// Add adds or replaces a candidate.
func (f *Candidates) Add(c *Candidate) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.byID[c.AccountID()] = c
}

// Current implements registration.Candidates.
func (f *Candidates) Current(r *http.Request) (registration.Candidate, string, error) {
	ck, err := r.Cookie(CandidateCookie)
	if err != nil {
		return nil, "", registration.ErrNotSignedIn
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.byID[ck.Value]
	if !ok {
		return nil, "", registration.ErrNotSignedIn
	}
	return c, r.PathValue("portal"), nil
}

// Lookup implements registration.Candidates.
func (f *Candidates) Lookup(ctx context.Context, accountID string) (registration.Candidate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.byID[accountID]
	if !ok {
		return nil, fmt.Errorf("registrationtest: candidate %q: %w", accountID, registration.ErrNotFound)
	}
	return c, nil
}

// SignIn makes r carry the candidate session of accountID.
func SignIn(r *http.Request, accountID string) {
	r.AddCookie(&http.Cookie{Name: CandidateCookie, Value: accountID})
}

// Record is one audit entry.
type Record struct {
	Kind   string
	Actor  string
	Detail map[string]string
}

// Auditor is a fake audit trail. Setting Fail makes Record fail.
type Auditor struct {
	mu      sync.Mutex
	records []Record
	fail    error
}

// Record implements registration.Auditor.
func (a *Auditor) Record(ctx context.Context, kind, actor string, detail map[string]string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail != nil {
		return a.fail
	}
	a.records = append(a.records, Record{kind, actor, maps.Clone(detail)})
	return nil
}

// FailWith makes every later Record return err (nil to succeed again).
func (a *Auditor) FailWith(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fail = err
}

// Records returns the entries of one kind, or all for "".
func (a *Auditor) Records(kind string) []Record {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []Record
	for _, r := range a.records {
		if kind == "" || r.Kind == kind {
			out = append(out, r)
		}
	}
	return out
}

// Operators is a fake operator directory. It keeps plain passwords: the
// gateway's real directory keeps argon2id hashes (gateway/password).
type Operators struct {
	passwords map[string]string
}

// NewOperators returns a directory of the given username → password pairs.
func NewOperators(passwords map[string]string) (*Operators, error) {
	return &Operators{passwords: maps.Clone(passwords)}, nil
}

// Authenticate implements registration.Operators.
func (o *Operators) Authenticate(ctx context.Context, username, password string) error {
	want, ok := o.passwords[username]
	if !ok || subtle.ConstantTimeCompare([]byte(want), []byte(password)) != 1 {
		return registration.ErrBadCredentials
	}
	return nil
}

// OperatorSessions is a fake server-side operator session store keyed by
// a random cookie.
type OperatorSessions struct {
	mu       sync.Mutex
	sessions map[string]string
}

// NewOperatorSessions returns an empty session store.
func NewOperatorSessions() *OperatorSessions {
	return &OperatorSessions{sessions: map[string]string{}}
}

// SignIn implements registration.OperatorSessions.
func (s *OperatorSessions) SignIn(w http.ResponseWriter, r *http.Request, username string) error {
	id := rand.Text()
	s.mu.Lock()
	s.sessions[id] = username
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: OperatorCookie, Value: id, Path: "/operator", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	return nil
}

// Current implements registration.OperatorSessions.
func (s *OperatorSessions) Current(r *http.Request) (string, error) {
	ck, err := r.Cookie(OperatorCookie)
	if err != nil {
		return "", registration.ErrNotSignedIn
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.sessions[ck.Value]
	if !ok {
		return "", registration.ErrNotSignedIn
	}
	return u, nil
}

// SignOut implements registration.OperatorSessions.
func (s *OperatorSessions) SignOut(w http.ResponseWriter, r *http.Request) error {
	ck, err := r.Cookie(OperatorCookie)
	if errors.Is(err, http.ErrNoCookie) {
		return nil
	}
	s.mu.Lock()
	delete(s.sessions, ck.Value)
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: OperatorCookie, Value: "", Path: "/operator", MaxAge: -1})
	return nil
}

var (
	_ registration.Candidate        = (*Candidate)(nil)
	_ registration.Candidates       = (*Candidates)(nil)
	_ registration.Auditor          = (*Auditor)(nil)
	_ registration.Operators        = (*Operators)(nil)
	_ registration.OperatorSessions = (*OperatorSessions)(nil)
)
