package candidates

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/shiming-id/shiming/gateway/account"
	"github.com/shiming-id/shiming/gateway/config"
	"github.com/shiming-id/shiming/gateway/password"
	"github.com/shiming-id/shiming/gateway/pii"
	"github.com/shiming-id/shiming/gateway/session"
	"github.com/shiming-id/shiming/gateway/store/sqlite"
	"github.com/shiming-id/shiming/registration"
)

func TestDirectory(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir()+"/c.db", sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys, _ := pii.New(bytes.Repeat([]byte{3}, pii.KeySize))
	accounts, err := account.NewService(st, keys, password.Params{MemoryKiB: 8 * 1024, Iterations: 1, Parallelism: 1}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	a, err := accounts.Create(ctx, account.New{Name: "李娜", IDNumber: "430103199708222465", Phone: "13800001002",
		Password: "kaoshi2026", Portal: "hxw", Evidence: []account.Evidence{{Provider: "ctid", Level: "ctid", VerifiedAt: time.Now()}}})
	if err != nil {
		t.Fatal(err)
	}
	sessions, err := session.New(st, keys, session.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := NewDirectory(sessions, accounts)

	// Not signed in.
	r := httptest.NewRequest("GET", "/hxw/exam/", nil)
	if _, _, err := dir.Current(r); !errors.Is(err, registration.ErrNotSignedIn) {
		t.Fatalf("anonymous Current = %v", err)
	}
	// Signed in: sign in on one request, carry the cookie to the next.
	w := httptest.NewRecorder()
	if err := sessions.SignIn(w, httptest.NewRequest("POST", "/hxw/login", nil), a.ID); err != nil {
		t.Fatal(err)
	}
	r = httptest.NewRequest("GET", "/hxw/exam/", nil)
	for _, c := range w.Result().Cookies() {
		r.AddCookie(c)
	}
	c, portal, err := dir.Current(r)
	if err != nil || c.AccountID() != a.ID || portal != "hxw" || c.Name() != "李娜" || c.Phone() != "13800001002" {
		t.Fatalf("Current = %v %q %v", c, portal, err)
	}
	if c.BirthDate().Format("2006-01-02") != "1997-08-22" || len(c.Evidence()) != 1 || c.Evidence()[0].Level != "ctid" {
		t.Fatalf("derived fields: %v %+v", c.BirthDate(), c.Evidence())
	}
	// A phone change shows at once: the candidate is read per request.
	if _, err := accounts.ChangePhone(ctx, a.ID, "13900000009"); err != nil {
		t.Fatal(err)
	}
	if c, _ := dir.Lookup(ctx, a.ID); c.Phone() != "13900000009" {
		t.Fatalf("phone after change = %s", c.Phone())
	}
	if _, err := dir.Lookup(ctx, "nobody"); !errors.Is(err, registration.ErrNotFound) {
		t.Fatalf("Lookup unknown = %v", err)
	}
}

func TestOperators(t *testing.T) {
	h, err := password.Hash("operator-pass-2026", password.Params{MemoryKiB: 8 * 1024, Iterations: 1, Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	ops, err := NewOperators([]config.Operator{{Username: "kaowu", PasswordHash: h}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := ops.Authenticate(ctx, "kaowu", "operator-pass-2026"); err != nil {
		t.Fatalf("right password: %v", err)
	}
	for _, tc := range []struct{ user, pw string }{{"kaowu", "wrong"}, {"nobody", "operator-pass-2026"}} {
		if err := ops.Authenticate(ctx, tc.user, tc.pw); !errors.Is(err, registration.ErrBadCredentials) {
			t.Errorf("Authenticate(%s) = %v", tc.user, err)
		}
	}
}

func TestOperatorSessionsAreSeparate(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir()+"/o.db", sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys, _ := pii.New(bytes.Repeat([]byte{4}, pii.KeySize))
	cand, _ := session.New(st, keys, session.Options{CookieName: "shiming_session"})
	opm, _ := session.New(st, keys, session.Options{CookieName: "shiming_operator"})
	ops := NewOperatorSessions(opm)

	w := httptest.NewRecorder()
	if err := ops.SignIn(w, httptest.NewRequest("POST", "/operator/login", nil), "kaowu"); err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/operator/", nil)
	for _, c := range w.Result().Cookies() {
		r.AddCookie(c)
	}
	if u, err := ops.Current(r); err != nil || u != "kaowu" {
		t.Fatalf("Current = %q %v", u, err)
	}
	if id, _ := cand.AccountID(r); id != "" {
		t.Fatal("an operator session reads as a candidate session")
	}
	w2 := httptest.NewRecorder()
	if err := ops.SignOut(w2, r); err != nil {
		t.Fatal(err)
	}
	r2 := httptest.NewRequest("GET", "/operator/", nil)
	for _, c := range w.Result().Cookies() {
		r2.AddCookie(c) // the old cookie
	}
	if _, err := ops.Current(r2); !errors.Is(err, registration.ErrNotSignedIn) {
		t.Fatalf("after sign-out Current = %v", err)
	}
}
