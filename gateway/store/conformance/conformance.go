// Package conformance is the test suite every store.Store implementation
// runs, so that the SQLite, PostgreSQL and any later stores behave alike.
package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/shiming-id/shiming/gateway/store"
)

// Run runs the suite. newStore must return an empty store of its own
// (a fresh file or schema) and close it when the test ends; the subtests
// run in parallel.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	runAll(t, func(t *testing.T) store.Accounts { return newStore(t) }, []subtest[store.Accounts]{
		{"AccountRoundTrip", testAccountRoundTrip},
		{"AccountNotFound", testAccountNotFound},
		{"AccountAlreadyExists", testAccountAlreadyExists},
		{"AccountUpdate", testAccountUpdate},
		{"EvidenceAndLinks", testEvidenceAndLinks},
	})
	RunSessions(t, func(t *testing.T) store.Sessions { return newStore(t) })
	RunFlows(t, func(t *testing.T) store.Flows { return newStore(t) })
	RunKV(t, func(t *testing.T) store.KV { return newStore(t) })
	RunCounters(t, func(t *testing.T) store.Counters { return newStore(t) })
	runAll(t, func(t *testing.T) store.Audit { return newStore(t) }, []subtest[store.Audit]{
		{"AuditChain", testAuditChain},
		{"ConcurrentAudit", testConcurrentAudit},
	})
	runAll(t, newStore, []subtest[store.Store]{
		{"Ping", testPing},
	})
}

// RunSessions runs the subtests of store.Sessions, for a store that keeps
// only sessions (and perhaps the other short-lived state, like Redis).
// newStore must return an empty store of its own and clean it up when
// the test ends; the subtests run in parallel.
func RunSessions(t *testing.T, newStore func(t *testing.T) store.Sessions) {
	runAll(t, newStore, []subtest[store.Sessions]{
		{"SessionRoundTrip", testSessionRoundTrip},
		{"SessionExpiry", testSessionExpiry},
		{"DeleteAccountSessions", testDeleteAccountSessions},
	})
}

// RunFlows runs the subtests of store.Flows, like RunSessions.
func RunFlows(t *testing.T, newStore func(t *testing.T) store.Flows) {
	runAll(t, newStore, []subtest[store.Flows]{
		{"FlowRoundTrip", testFlowRoundTrip},
		{"FlowUpdate", testFlowUpdate},
		{"FlowExpiry", testFlowExpiry},
		{"ConcurrentUpdateFlow", testConcurrentUpdateFlow},
	})
}

// RunKV runs the subtests of store.KV, like RunSessions.
func RunKV(t *testing.T, newStore func(t *testing.T) store.KV) {
	runAll(t, newStore, []subtest[store.KV]{
		{"KV", testKV},
		{"KVExpiry", testKVExpiry},
		{"ConcurrentPutIfAbsent", testConcurrentPutIfAbsent},
	})
}

// RunCounters runs the subtests of store.Counters, like RunSessions.
func RunCounters(t *testing.T, newStore func(t *testing.T) store.Counters) {
	runAll(t, newStore, []subtest[store.Counters]{
		{"CounterWindows", testCounterWindows},
		{"CounterExpiry", testCounterExpiry},
	})
}

// subtest is one named test of the part S of a store.
type subtest[S any] struct {
	name string
	run  func(t *testing.T, s S)
}

// runAll runs each test in parallel on a store of its own.
func runAll[S any](t *testing.T, newStore func(t *testing.T) S, tests []subtest[S]) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, newStore(t))
		})
	}
}

// t0 is a base time with microseconds, which every store keeps exactly.
var t0 = time.Date(2026, 3, 1, 9, 0, 0, 123456000, time.UTC)

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func wantEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

func account(n int) store.Account {
	return store.Account{
		ID:             fmt.Sprintf("acct-%d", n),
		IDNumberHash:   fmt.Sprintf("idhash-%d", n),
		IDNumberSealed: []byte(fmt.Sprintf("sealed-id-%d", n)),
		NameSealed:     []byte(fmt.Sprintf("sealed-name-%d", n)),
		PhoneHash:      fmt.Sprintf("phonehash-%d", n),
		PhoneSealed:    []byte(fmt.Sprintf("sealed-phone-%d", n)),
		PasswordHash:   "$argon2id$v=19$m=65536,t=3,p=2$c2FsdA$aGFzaA",
		Portal:         "hunanpea",
		CreatedAt:      t0,
		UpdatedAt:      t0,
		Version:        1,
	}
}

func evidence(accountID, provider string, at time.Time) store.Evidence {
	return store.Evidence{AccountID: accountID, Provider: provider, Level: "name_id", Reference: "ref-" + provider, VerifiedAt: at}
}

func link(accountID, provider, subject string) store.Link {
	return store.Link{Provider: provider, Subject: subject, AccountID: accountID, CreatedAt: t0}
}

func testAccountRoundTrip(t *testing.T, s store.Accounts) {
	ctx := ctxFor(t)
	a := account(1)
	ev := []store.Evidence{evidence(a.ID, "wechat", t0), evidence(a.ID, "sms", t0.Add(time.Second))}
	links := []store.Link{link(a.ID, "wechat", "unionid-1")}
	must(t, s.CreateAccount(ctx, a, ev, links))

	for name, get := range map[string]func() (store.Account, error){
		"GetAccount":           func() (store.Account, error) { return s.GetAccount(ctx, a.ID) },
		"GetAccountByIDNumber": func() (store.Account, error) { return s.GetAccountByIDNumber(ctx, a.IDNumberHash) },
		"GetAccountByPhone":    func() (store.Account, error) { return s.GetAccountByPhone(ctx, a.PhoneHash) },
	} {
		got, err := get()
		must(t, err)
		wantEqual(t, name, got, a)
	}
	gotEv, err := s.ListEvidence(ctx, a.ID)
	must(t, err)
	wantEqual(t, "ListEvidence", gotEv, ev)
	gotLinks, err := s.ListLinks(ctx, a.ID)
	must(t, err)
	wantEqual(t, "ListLinks", gotLinks, links)
	gotLink, err := s.GetLink(ctx, "wechat", "unionid-1")
	must(t, err)
	wantEqual(t, "GetLink", gotLink, links[0])

	// Evidence and links given without an account id belong to the new
	// account.
	b := account(2)
	must(t, s.CreateAccount(ctx, b, []store.Evidence{evidence("", "ctid", t0)}, []store.Link{link("", "ctid", "card-2")}))
	gotEv, err = s.ListEvidence(ctx, b.ID)
	must(t, err)
	wantEqual(t, "ListEvidence without account id", gotEv, []store.Evidence{evidence(b.ID, "ctid", t0)})
	gotLink, err = s.GetLink(ctx, "ctid", "card-2")
	must(t, err)
	wantEqual(t, "GetLink without account id", gotLink, link(b.ID, "ctid", "card-2"))

	// Times in another zone and with nanoseconds come back as the same
	// instant, in UTC, to the microsecond.
	c := account(3)
	c.CreatedAt = time.Date(2026, 3, 1, 17, 0, 0, 999999999, time.FixedZone("CST", 8*3600))
	must(t, s.CreateAccount(ctx, c, nil, nil))
	got, err := s.GetAccount(ctx, c.ID)
	must(t, err)
	if want := time.Date(2026, 3, 1, 9, 0, 0, 999999000, time.UTC); got.CreatedAt != want {
		t.Fatalf("CreatedAt: got %v, want %v", got.CreatedAt, want)
	}
}

func testAccountNotFound(t *testing.T, s store.Accounts) {
	ctx := ctxFor(t)
	must(t, s.CreateAccount(ctx, account(1), nil, []store.Link{link("acct-1", "wechat", "u1")}))
	tests := []struct {
		name string
		call func() error
	}{
		{"GetAccount", func() error { _, err := s.GetAccount(ctx, "acct-x"); return err }},
		{"GetAccountByIDNumber", func() error { _, err := s.GetAccountByIDNumber(ctx, "idhash-x"); return err }},
		{"GetAccountByPhone", func() error { _, err := s.GetAccountByPhone(ctx, "phonehash-x"); return err }},
		{"GetLink other subject", func() error { _, err := s.GetLink(ctx, "wechat", "u2"); return err }},
		{"GetLink other provider", func() error { _, err := s.GetLink(ctx, "alipay", "u1"); return err }},
		{"UpdateAccount", func() error { _, err := s.UpdateAccount(ctx, account(9)); return err }},
		{"AddEvidence", func() error { return s.AddEvidence(ctx, evidence("acct-x", "sms", t0)) }},
		{"CreateLink", func() error { return s.CreateLink(ctx, link("acct-x", "alipay", "u9")) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { wantErr(t, tc.name, tc.call(), store.ErrNotFound) })
	}
	ev, err := s.ListEvidence(ctx, "acct-x")
	must(t, err)
	links, err := s.ListLinks(ctx, "acct-x")
	must(t, err)
	if len(ev) != 0 || len(links) != 0 {
		t.Fatalf("unknown account: got %d evidence and %d links, want none", len(ev), len(links))
	}
}

func testAccountAlreadyExists(t *testing.T, s store.Accounts) {
	ctx := ctxFor(t)
	base := account(1)
	must(t, s.CreateAccount(ctx, base, []store.Evidence{evidence(base.ID, "wechat", t0)}, []store.Link{link(base.ID, "wechat", "u1")}))

	tests := []struct {
		name  string
		a     store.Account
		links []store.Link
	}{
		{"same id", func() store.Account { a := account(2); a.ID = base.ID; return a }(), nil},
		{"same id number hash", func() store.Account { a := account(2); a.IDNumberHash = base.IDNumberHash; return a }(), nil},
		{"same phone hash", func() store.Account { a := account(2); a.PhoneHash = base.PhoneHash; return a }(), nil},
		{"link taken", account(2), []store.Link{link("acct-2", "alipay", "new"), link("acct-2", "wechat", "u1")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.CreateAccount(ctx, tc.a, []store.Evidence{evidence("", "sms", t0)}, tc.links)
			wantErr(t, "CreateAccount", err, store.ErrAlreadyExists)
			// Nothing of the failed account was kept.
			if tc.a.ID != base.ID {
				_, err := s.GetAccount(ctx, tc.a.ID)
				wantErr(t, "GetAccount after failed create", err, store.ErrNotFound)
			}
			ev, err := s.ListEvidence(ctx, base.ID)
			must(t, err)
			if len(ev) != 1 {
				t.Fatalf("the existing account has %d evidence, want 1", len(ev))
			}
			_, err = s.GetLink(ctx, "alipay", "new")
			wantErr(t, "GetLink of the failed create", err, store.ErrNotFound)
			got, err := s.GetAccount(ctx, base.ID)
			must(t, err)
			wantEqual(t, "existing account", got, base)
		})
	}
	wantErr(t, "CreateLink taken", s.CreateLink(ctx, link(base.ID, "wechat", "u1")), store.ErrAlreadyExists)
}

func testAccountUpdate(t *testing.T, s store.Accounts) {
	ctx := ctxFor(t)
	a, other := account(1), account(2)
	must(t, s.CreateAccount(ctx, a, nil, nil))
	must(t, s.CreateAccount(ctx, other, nil, nil))

	changed := a
	changed.PhoneHash = "phonehash-new"
	changed.PhoneSealed = []byte("sealed-phone-new")
	changed.PasswordHash = "$argon2id$new"
	changed.UpdatedAt = t0.Add(time.Hour)
	updated, err := s.UpdateAccount(ctx, changed)
	must(t, err)
	want := changed
	want.Version = a.Version + 1
	wantEqual(t, "UpdateAccount result", updated, want)
	got, err := s.GetAccount(ctx, a.ID)
	must(t, err)
	wantEqual(t, "GetAccount after update", got, want)
	_, err = s.GetAccountByPhone(ctx, a.PhoneHash)
	wantErr(t, "old phone hash", err, store.ErrNotFound)
	got, err = s.GetAccountByPhone(ctx, "phonehash-new")
	must(t, err)
	wantEqual(t, "new phone hash", got, want)

	tests := []struct {
		name string
		a    store.Account
		want error
	}{
		{"stale version", changed, store.ErrConflict},
		{"future version", func() store.Account { x := updated; x.Version += 5; return x }(), store.ErrConflict},
		{"phone of another account", func() store.Account { x := updated; x.PhoneHash = other.PhoneHash; return x }(), store.ErrAlreadyExists},
		{"id number of another account", func() store.Account { x := updated; x.IDNumberHash = other.IDNumberHash; return x }(), store.ErrAlreadyExists},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.a.PasswordHash = "$argon2id$lost"
			_, err := s.UpdateAccount(ctx, tc.a)
			wantErr(t, "UpdateAccount", err, tc.want)
			got, err := s.GetAccount(ctx, a.ID)
			must(t, err)
			wantEqual(t, "account after failed update", got, want)
		})
	}

	again := updated
	again.Portal = "zwfw"
	again, err = s.UpdateAccount(ctx, again)
	must(t, err)
	if again.Version != a.Version+2 {
		t.Fatalf("second update: version %d, want %d", again.Version, a.Version+2)
	}
}

func testEvidenceAndLinks(t *testing.T, s store.Accounts) {
	ctx := ctxFor(t)
	a, b := account(1), account(2)
	must(t, s.CreateAccount(ctx, a, nil, nil))
	must(t, s.CreateAccount(ctx, b, nil, nil))

	// Listed oldest first whatever the order they were added in.
	late, early := evidence(a.ID, "face", t0.Add(2*time.Minute)), evidence(a.ID, "sms", t0.Add(time.Minute))
	must(t, s.AddEvidence(ctx, late))
	must(t, s.AddEvidence(ctx, early))
	must(t, s.AddEvidence(ctx, evidence(b.ID, "wechat", t0)))
	ev, err := s.ListEvidence(ctx, a.ID)
	must(t, err)
	wantEqual(t, "ListEvidence", ev, []store.Evidence{early, late})

	// The provider is a namespace: the same subject at two providers is
	// two links.
	l1, l2, l3 := link(a.ID, "wechat", "same"), link(a.ID, "alipay", "same"), link(b.ID, "oidc:https://idp.example", "same")
	l2.CreatedAt = t0.Add(time.Second)
	for _, l := range []store.Link{l1, l2, l3} {
		must(t, s.CreateLink(ctx, l))
	}
	links, err := s.ListLinks(ctx, a.ID)
	must(t, err)
	wantEqual(t, "ListLinks", links, []store.Link{l1, l2})
	got, err := s.GetLink(ctx, "oidc:https://idp.example", "same")
	must(t, err)
	wantEqual(t, "GetLink", got, l3)
	wantErr(t, "CreateLink taken by another account", s.CreateLink(ctx, link(b.ID, "wechat", "same")), store.ErrAlreadyExists)
}

func session(id, accountID string) store.Session {
	return store.Session{
		ID:                id,
		AccountID:         accountID,
		Data:              []byte("sealed-" + id),
		CreatedAt:         t0,
		LastSeenAt:        t0,
		ExpiresAt:         t0.Add(30 * time.Minute),
		AbsoluteExpiresAt: t0.Add(8 * time.Hour),
	}
}

func testSessionRoundTrip(t *testing.T, s store.Sessions) {
	ctx := ctxFor(t)
	ss := session("s1", "")
	must(t, s.CreateSession(ctx, ss))
	got, err := s.GetSession(ctx, ss.ID, t0)
	must(t, err)
	wantEqual(t, "GetSession", got, ss)
	wantErr(t, "CreateSession clash", s.CreateSession(ctx, session("s1", "acct-1")), store.ErrAlreadyExists)
	_, err = s.GetSession(ctx, "s2", t0)
	wantErr(t, "GetSession unknown", err, store.ErrNotFound)

	// Sign-in: the session gains an account, new data and later times.
	ss.AccountID = "acct-1"
	ss.Data = []byte("sealed-signed-in")
	ss.LastSeenAt = t0.Add(10 * time.Minute)
	ss.ExpiresAt = t0.Add(40 * time.Minute)
	must(t, s.UpdateSession(ctx, ss))
	got, err = s.GetSession(ctx, ss.ID, t0.Add(35*time.Minute))
	must(t, err)
	wantEqual(t, "GetSession after update", got, ss)
	wantErr(t, "UpdateSession unknown", s.UpdateSession(ctx, session("s2", "")), store.ErrNotFound)

	// Touch moves the activity times and leaves the data alone.
	must(t, s.TouchSession(ctx, ss.ID, t0.Add(39*time.Minute), t0.Add(69*time.Minute)))
	got, err = s.GetSession(ctx, ss.ID, t0.Add(60*time.Minute))
	must(t, err)
	touched := ss
	touched.LastSeenAt, touched.ExpiresAt = t0.Add(39*time.Minute), t0.Add(69*time.Minute)
	wantEqual(t, "GetSession after touch", got, touched)
	wantErr(t, "TouchSession unknown", s.TouchSession(ctx, "s2", t0, t0), store.ErrNotFound)

	must(t, s.DeleteSession(ctx, ss.ID))
	_, err = s.GetSession(ctx, ss.ID, t0)
	wantErr(t, "GetSession after delete", err, store.ErrNotFound)
	must(t, s.DeleteSession(ctx, ss.ID))
	wantErr(t, "UpdateSession after delete", s.UpdateSession(ctx, ss), store.ErrNotFound)
}

func testSessionExpiry(t *testing.T, s store.Sessions) {
	ctx := ctxFor(t)
	ss := session("s1", "acct-1")
	must(t, s.CreateSession(ctx, ss))
	tests := []struct {
		name string
		now  time.Time
		live bool
	}{
		{"created", ss.CreatedAt, true},
		{"a microsecond before expiry", ss.ExpiresAt.Add(-time.Microsecond), true},
		{"at expiry", ss.ExpiresAt, false},
		{"after expiry", ss.ExpiresAt.Add(time.Hour), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.GetSession(ctx, ss.ID, tc.now)
			if tc.live {
				must(t, err)
			} else {
				wantErr(t, "GetSession", err, store.ErrNotFound)
			}
		})
	}

	// DeleteExpiredSessions removes exactly those expired at now.
	for i, exp := range []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute} {
		x := session(fmt.Sprintf("e%d", i), "")
		x.ExpiresAt = t0.Add(exp)
		must(t, s.CreateSession(ctx, x))
	}
	n, err := s.DeleteExpiredSessions(ctx, t0.Add(time.Minute-time.Microsecond))
	must(t, err)
	wantEqual(t, "deleted before the first expiry", n, 0)
	n, err = s.DeleteExpiredSessions(ctx, t0.Add(2*time.Minute))
	must(t, err)
	wantEqual(t, "deleted at the second expiry", n, 2)
	if _, err := s.GetSession(ctx, "e2", t0); err != nil {
		t.Fatalf("a live session was deleted: %v", err)
	}
	if _, err := s.GetSession(ctx, ss.ID, t0); err != nil {
		t.Fatalf("a live session was deleted: %v", err)
	}
	_, err = s.GetSession(ctx, "e1", t0)
	wantErr(t, "expired session after cleanup", err, store.ErrNotFound)
}

func testDeleteAccountSessions(t *testing.T, s store.Sessions) {
	ctx := ctxFor(t)
	for _, ss := range []store.Session{
		session("a1", "acct-a"), session("a2", "acct-a"), session("a3", "acct-a"),
		session("b1", "acct-b"), session("anon", ""),
	} {
		must(t, s.CreateSession(ctx, ss))
	}
	n, err := s.DeleteAccountSessions(ctx, "acct-a")
	must(t, err)
	wantEqual(t, "sessions ended", n, 3)
	for _, id := range []string{"a1", "a2", "a3"} {
		_, err := s.GetSession(ctx, id, t0)
		wantErr(t, "GetSession "+id, err, store.ErrNotFound)
	}
	for _, id := range []string{"b1", "anon"} {
		if _, err := s.GetSession(ctx, id, t0); err != nil {
			t.Fatalf("session %s of another account was ended: %v", id, err)
		}
	}
	n, err = s.DeleteAccountSessions(ctx, "acct-a")
	must(t, err)
	wantEqual(t, "sessions ended again", n, 0)
}

func flow(id string) store.Flow {
	return store.Flow{
		ID:        id,
		Kind:      "realname",
		SessionID: "session-" + id,
		State:     []byte("sealed-state-0"),
		Version:   1,
		CreatedAt: t0,
		UpdatedAt: t0,
		ExpiresAt: t0.Add(15 * time.Minute),
	}
}

func testFlowRoundTrip(t *testing.T, s store.Flows) {
	ctx := ctxFor(t)
	f := flow("f1")
	must(t, s.CreateFlow(ctx, f))
	got, err := s.GetFlow(ctx, f.ID, t0)
	must(t, err)
	wantEqual(t, "GetFlow", got, f)
	wantErr(t, "CreateFlow clash", s.CreateFlow(ctx, flow("f1")), store.ErrAlreadyExists)
	_, err = s.GetFlow(ctx, "f2", t0)
	wantErr(t, "GetFlow unknown", err, store.ErrNotFound)
	must(t, s.DeleteFlow(ctx, f.ID))
	_, err = s.GetFlow(ctx, f.ID, t0)
	wantErr(t, "GetFlow after delete", err, store.ErrNotFound)
	must(t, s.DeleteFlow(ctx, f.ID))
}

func testFlowUpdate(t *testing.T, s store.Flows) {
	ctx := ctxFor(t)
	f := flow("f1")
	must(t, s.CreateFlow(ctx, f))

	step := f
	step.State = []byte("sealed-state-1")
	step.UpdatedAt = t0.Add(time.Minute)
	step.ExpiresAt = t0.Add(20 * time.Minute)
	got, err := s.UpdateFlow(ctx, step)
	must(t, err)
	want := step
	want.Version = f.Version + 1
	wantEqual(t, "UpdateFlow result", got, want)
	stored, err := s.GetFlow(ctx, f.ID, t0)
	must(t, err)
	wantEqual(t, "GetFlow after update", stored, want)

	tests := []struct {
		name string
		f    store.Flow
		want error
	}{
		{"replayed step", step, store.ErrConflict},
		{"future version", func() store.Flow { x := want; x.Version += 3; return x }(), store.ErrConflict},
		{"unknown flow", flow("f9"), store.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.f.State = []byte("sealed-state-lost")
			_, err := s.UpdateFlow(ctx, tc.f)
			wantErr(t, "UpdateFlow", err, tc.want)
			stored, err := s.GetFlow(ctx, f.ID, t0)
			must(t, err)
			wantEqual(t, "flow after failed update", stored, want)
		})
	}
}

func testFlowExpiry(t *testing.T, s store.Flows) {
	ctx := ctxFor(t)
	f := flow("f1")
	must(t, s.CreateFlow(ctx, f))
	tests := []struct {
		name string
		now  time.Time
		live bool
	}{
		{"a microsecond before expiry", f.ExpiresAt.Add(-time.Microsecond), true},
		{"at expiry", f.ExpiresAt, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.GetFlow(ctx, f.ID, tc.now)
			if tc.live {
				must(t, err)
			} else {
				wantErr(t, "GetFlow", err, store.ErrNotFound)
			}
		})
	}
	g := flow("f2")
	g.ExpiresAt = f.ExpiresAt.Add(time.Minute)
	must(t, s.CreateFlow(ctx, g))
	n, err := s.DeleteExpiredFlows(ctx, f.ExpiresAt.Add(-time.Microsecond))
	must(t, err)
	wantEqual(t, "deleted before expiry", n, 0)
	n, err = s.DeleteExpiredFlows(ctx, f.ExpiresAt)
	must(t, err)
	wantEqual(t, "deleted at expiry", n, 1)
	if _, err := s.GetFlow(ctx, g.ID, t0); err != nil {
		t.Fatalf("a live flow was deleted: %v", err)
	}
}

func testConcurrentUpdateFlow(t *testing.T, s store.Flows) {
	ctx := ctxFor(t)
	f := flow("f1")
	must(t, s.CreateFlow(ctx, f))
	const n = 20
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		winners   []store.Flow
		conflicts int
		others    []error
	)
	for i := range n {
		wg.Go(func() {
			next := f
			next.State = []byte(fmt.Sprintf("sealed-state-from-%d", i))
			got, err := s.UpdateFlow(ctx, next)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				winners = append(winners, got)
			case errors.Is(err, store.ErrConflict):
				conflicts++
			default:
				others = append(others, err)
			}
		})
	}
	wg.Wait()
	if len(others) > 0 {
		t.Fatalf("unexpected errors: %v", others)
	}
	if len(winners) != 1 || conflicts != n-1 {
		t.Fatalf("got %d winners and %d conflicts, want 1 and %d", len(winners), conflicts, n-1)
	}
	stored, err := s.GetFlow(ctx, f.ID, t0)
	must(t, err)
	wantEqual(t, "stored flow", stored, winners[0])
	if stored.Version != f.Version+1 {
		t.Fatalf("version %d, want %d", stored.Version, f.Version+1)
	}
}

func testKV(t *testing.T, s store.KV) {
	ctx := ctxFor(t)
	// PutIfAbsent judges liveness by the store's own clock, so this test
	// uses times far from the real now.
	now := time.Now().UTC().Truncate(time.Microsecond)
	later := now.Add(time.Hour)

	_, err := s.Get(ctx, "k", now)
	wantErr(t, "Get unknown", err, store.ErrNotFound)

	must(t, s.Put(ctx, "k", []byte("v1"), later))
	v, err := s.Get(ctx, "k", now)
	must(t, err)
	wantEqual(t, "Get", v, []byte("v1"))
	must(t, s.Put(ctx, "k", []byte("v2"), later))
	v, err = s.Get(ctx, "k", now)
	must(t, err)
	wantEqual(t, "Get after Put replaced", v, []byte("v2"))

	existing, stored, err := s.PutIfAbsent(ctx, "k", []byte("v3"), later)
	must(t, err)
	if stored || !bytes.Equal(existing, []byte("v2")) {
		t.Fatalf("PutIfAbsent on a live key: stored=%v existing=%q, want false and v2", stored, existing)
	}
	v, err = s.Get(ctx, "k", now)
	must(t, err)
	wantEqual(t, "Get after PutIfAbsent lost", v, []byte("v2"))

	existing, stored, err = s.PutIfAbsent(ctx, "fresh", []byte("f1"), later)
	must(t, err)
	if !stored || existing != nil {
		t.Fatalf("PutIfAbsent on an absent key: stored=%v existing=%q, want true and nil", stored, existing)
	}
	v, err = s.Get(ctx, "fresh", now)
	must(t, err)
	wantEqual(t, "Get after PutIfAbsent", v, []byte("f1"))

	// An expired value does not hold the key.
	must(t, s.Put(ctx, "old", []byte("stale"), now.Add(-time.Hour)))
	existing, stored, err = s.PutIfAbsent(ctx, "old", []byte("new"), later)
	must(t, err)
	if !stored || existing != nil {
		t.Fatalf("PutIfAbsent over an expired value: stored=%v existing=%q, want true and nil", stored, existing)
	}
	v, err = s.Get(ctx, "old", now)
	must(t, err)
	wantEqual(t, "Get after PutIfAbsent over expired", v, []byte("new"))

	must(t, s.Delete(ctx, "k"))
	_, err = s.Get(ctx, "k", now)
	wantErr(t, "Get after Delete", err, store.ErrNotFound)
	must(t, s.Delete(ctx, "k"))
	_, stored, err = s.PutIfAbsent(ctx, "k", []byte("v4"), later)
	must(t, err)
	if !stored {
		t.Fatal("PutIfAbsent after Delete did not store")
	}
}

func testKVExpiry(t *testing.T, s store.KV) {
	ctx := ctxFor(t)
	exp := t0.Add(time.Minute)
	must(t, s.Put(ctx, "a", []byte("1"), exp))
	must(t, s.Put(ctx, "b", []byte("2"), exp.Add(time.Minute)))
	tests := []struct {
		name string
		now  time.Time
		live bool
	}{
		{"a microsecond before expiry", exp.Add(-time.Microsecond), true},
		{"at expiry", exp, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Get(ctx, "a", tc.now)
			if tc.live {
				must(t, err)
			} else {
				wantErr(t, "Get", err, store.ErrNotFound)
			}
		})
	}
	n, err := s.DeleteExpiredKV(ctx, exp.Add(-time.Microsecond))
	must(t, err)
	wantEqual(t, "deleted before expiry", n, 0)
	n, err = s.DeleteExpiredKV(ctx, exp)
	must(t, err)
	wantEqual(t, "deleted at expiry", n, 1)
	v, err := s.Get(ctx, "b", exp)
	must(t, err)
	wantEqual(t, "live value after cleanup", v, []byte("2"))
}

func testConcurrentPutIfAbsent(t *testing.T, s store.KV) {
	ctx := ctxFor(t)
	later := time.Now().Add(time.Hour)
	// One key starts absent, the other holds an expired value.
	must(t, s.Put(ctx, "expired", []byte("stale"), time.Now().Add(-time.Hour)))
	for _, key := range []string{"absent", "expired"} {
		t.Run(key, func(t *testing.T) {
			const n = 20
			var (
				wg       sync.WaitGroup
				mu       sync.Mutex
				won      [][]byte
				lostSeen [][]byte
				errs     []error
			)
			for i := range n {
				wg.Go(func() {
					mine := []byte(fmt.Sprintf("code-result-%d", i))
					existing, stored, err := s.PutIfAbsent(ctx, key, mine, later)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err != nil:
						errs = append(errs, err)
					case stored:
						won = append(won, mine)
					default:
						lostSeen = append(lostSeen, existing)
					}
				})
			}
			wg.Wait()
			if len(errs) > 0 {
				t.Fatalf("errors: %v", errs)
			}
			if len(won) != 1 {
				t.Fatalf("%d callers stored, want exactly 1", len(won))
			}
			for _, v := range lostSeen {
				if !bytes.Equal(v, won[0]) {
					t.Fatalf("a loser saw %q, want the winner's %q", v, won[0])
				}
			}
			v, err := s.Get(ctx, key, time.Now())
			must(t, err)
			wantEqual(t, "stored value", v, won[0])
		})
	}
}

func testCounterWindows(t *testing.T, s store.Counters) {
	ctx := ctxFor(t)
	minute := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC) // a window start
	steps := []struct {
		name   string
		key    string
		n      int64
		window time.Duration
		now    time.Time
		want   int64
	}{
		{"first event", "sms:ip", 1, time.Minute, minute, 1},
		{"same window", "sms:ip", 2, time.Minute, minute.Add(30 * time.Second), 3},
		{"last microsecond of the window", "sms:ip", 1, time.Minute, minute.Add(time.Minute - time.Microsecond), 4},
		{"next window starts afresh", "sms:ip", 1, time.Minute, minute.Add(time.Minute), 1},
		{"another window length is another counter", "sms:ip", 5, time.Hour, minute, 5},
		{"another key is another counter", "sms:phone", 1, time.Minute, minute, 1},
	}
	for _, st := range steps {
		got, err := s.Incr(ctx, st.key, st.n, st.window, st.now)
		must(t, err)
		if got != st.want {
			t.Fatalf("%s: Incr = %d, want %d", st.name, got, st.want)
		}
	}
	counts := []struct {
		name   string
		key    string
		window time.Duration
		now    time.Time
		want   int64
	}{
		{"first window", "sms:ip", time.Minute, minute.Add(59 * time.Second), 4},
		{"second window", "sms:ip", time.Minute, minute.Add(90 * time.Second), 1},
		{"hour window", "sms:ip", time.Hour, minute.Add(29 * time.Minute), 5},
		{"empty window", "sms:ip", time.Minute, minute.Add(10 * time.Minute), 0},
		{"unknown key", "nobody", time.Minute, minute, 0},
	}
	for _, c := range counts {
		t.Run(c.name, func(t *testing.T) {
			got, err := s.Count(ctx, c.key, c.window, c.now)
			must(t, err)
			if got != c.want {
				t.Fatalf("Count = %d, want %d", got, c.want)
			}
		})
	}

	must(t, s.Reset(ctx, "sms:ip"))
	for _, w := range []time.Duration{time.Minute, time.Hour} {
		got, err := s.Count(ctx, "sms:ip", w, minute)
		must(t, err)
		if got != 0 {
			t.Fatalf("Count after Reset in the %v window = %d, want 0", w, got)
		}
	}
	got, err := s.Count(ctx, "sms:phone", time.Minute, minute)
	must(t, err)
	wantEqual(t, "other key after Reset", got, int64(1))

	if _, err := s.Incr(ctx, "k", 1, 0, minute); err == nil {
		t.Fatal("Incr with a zero window: no error")
	}
}

func testCounterExpiry(t *testing.T, s store.Counters) {
	ctx := ctxFor(t)
	start := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	for _, st := range []struct {
		key    string
		window time.Duration
		now    time.Time
	}{
		{"a", time.Minute, start},                       // ends start+1m
		{"a", time.Minute, start.Add(time.Minute)},      // ends start+2m
		{"b", time.Hour, start},                         // ends 10:00
		{"c", time.Minute, start.Add(30 * time.Second)}, // ends start+1m
	} {
		_, err := s.Incr(ctx, st.key, 1, st.window, st.now)
		must(t, err)
	}
	n, err := s.DeleteExpiredCounters(ctx, start.Add(time.Minute-time.Microsecond))
	must(t, err)
	wantEqual(t, "deleted before the first window ended", n, 0)
	n, err = s.DeleteExpiredCounters(ctx, start.Add(time.Minute))
	must(t, err)
	wantEqual(t, "deleted when the first windows ended", n, 2)
	got, err := s.Count(ctx, "a", time.Minute, start.Add(time.Minute))
	must(t, err)
	wantEqual(t, "the live window", got, int64(1))
	got, err = s.Count(ctx, "b", time.Hour, start)
	must(t, err)
	wantEqual(t, "the hour window", got, int64(1))
}

// verifyChain checks that records are the whole chain from Seq 1, each
// linked to its predecessor by store.AuditHash.
func verifyChain(t *testing.T, records []store.AuditRecord) {
	t.Helper()
	var prev []byte
	for i, r := range records {
		if r.Seq != int64(i+1) {
			t.Fatalf("record %d has Seq %d, want %d (a gap or a duplicate)", i, r.Seq, i+1)
		}
		if !bytes.Equal(r.PrevHash, prev) {
			t.Fatalf("record %d: PrevHash %x, want the previous Hash %x", r.Seq, r.PrevHash, prev)
		}
		if want := store.AuditHash(prev, r); !bytes.Equal(r.Hash, want) {
			t.Fatalf("record %d: Hash %x, want %x", r.Seq, r.Hash, want)
		}
		prev = r.Hash
	}
}

func listAll(t *testing.T, ctx context.Context, s store.Audit, page int) []store.AuditRecord {
	t.Helper()
	var all []store.AuditRecord
	var after int64
	for {
		recs, err := s.ListAudit(ctx, after, page)
		must(t, err)
		if len(recs) > page {
			t.Fatalf("ListAudit returned %d records, limit %d", len(recs), page)
		}
		if len(recs) == 0 {
			return all
		}
		all = append(all, recs...)
		after = recs[len(recs)-1].Seq
	}
}

func testAuditChain(t *testing.T, s store.Audit) {
	ctx := ctxFor(t)
	recs, err := s.ListAudit(ctx, 0, 10)
	must(t, err)
	if len(recs) != 0 {
		t.Fatalf("empty chain lists %d records", len(recs))
	}
	seq, head, err := s.AuditHead(ctx)
	must(t, err)
	if seq != 0 || len(head) != 0 {
		t.Fatalf("empty chain head = %d %x", seq, head)
	}
	inputs := []store.AuditRecord{
		{Time: t0, Kind: "login", Actor: "acct-1", Subject: "430***********123X", Detail: []byte(`{"provider":"wechat"}`)},
		// Nanoseconds and another zone: the hash covers the stored time.
		{Time: time.Date(2026, 3, 1, 17, 1, 0, 987654321, time.FixedZone("CST", 8*3600)), Kind: "phone_change", Actor: "acct-1", Subject: "138****0000"},
		{Time: t0.Add(time.Hour), Kind: "export", Actor: "operator-7", Subject: "applications", Detail: []byte(`{}`)},
		// Even a Seq or hashes set by the caller are replaced.
		{Seq: 99, PrevHash: []byte("forged"), Hash: []byte("forged"), Time: t0, Kind: "operator", Actor: "system"},
	}
	var appended []store.AuditRecord
	for i, in := range inputs {
		r, err := s.AppendAudit(ctx, in)
		must(t, err)
		if r.Seq != int64(i+1) {
			t.Fatalf("append %d: Seq %d, want %d", i, r.Seq, i+1)
		}
		if r.Kind != in.Kind || r.Actor != in.Actor || r.Subject != in.Subject || !bytes.Equal(r.Detail, in.Detail) || !r.Time.Equal(in.Time.Truncate(time.Microsecond)) {
			t.Fatalf("append %d: record changed: got %+v from %+v", i, r, in)
		}
		appended = append(appended, r)
	}
	verifyChain(t, appended)
	seq, head, err = s.AuditHead(ctx)
	must(t, err)
	if last := appended[len(appended)-1]; seq != last.Seq || !bytes.Equal(head, last.Hash) {
		t.Fatalf("AuditHead = %d %x, want %d %x", seq, head, last.Seq, last.Hash)
	}
	if len(appended[0].PrevHash) != 0 {
		t.Fatalf("genesis PrevHash %x, want empty", appended[0].PrevHash)
	}

	all := listAll(t, ctx, s, 3)
	wantEqual(t, "ListAudit", all, appended)
	verifyChain(t, all)

	page, err := s.ListAudit(ctx, 1, 2)
	must(t, err)
	wantEqual(t, "ListAudit after 1, limit 2", page, appended[1:3])
	page, err = s.ListAudit(ctx, 4, 10)
	must(t, err)
	if len(page) != 0 {
		t.Fatalf("ListAudit after the last record: %d records", len(page))
	}

	// A changed record no longer verifies.
	tampered := append([]store.AuditRecord(nil), all...)
	tampered[1].Subject = "someone else"
	if bytes.Equal(store.AuditHash(tampered[0].Hash, tampered[1]), tampered[1].Hash) {
		t.Fatal("a changed record still matches its hash")
	}
}

func testConcurrentAudit(t *testing.T, s store.Audit) {
	ctx := ctxFor(t)
	const writers, each = 10, 10
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		appended = map[int64]store.AuditRecord{}
		errs     []error
	)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				r, err := s.AppendAudit(ctx, store.AuditRecord{
					Time: t0.Add(time.Duration(i) * time.Second), Kind: "login",
					Actor: fmt.Sprintf("writer-%d", w), Subject: fmt.Sprintf("event-%d", i),
				})
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					appended[r.Seq] = r
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("append errors: %v", errs)
	}
	all := listAll(t, ctx, s, 37)
	if len(all) != writers*each || len(appended) != writers*each {
		t.Fatalf("listed %d records, %d distinct Seqs returned, want %d", len(all), len(appended), writers*each)
	}
	verifyChain(t, all)
	for _, r := range all {
		wantEqual(t, fmt.Sprintf("record %d", r.Seq), r, appended[r.Seq])
	}
}

func testPing(t *testing.T, s store.Store) {
	must(t, s.Ping(ctxFor(t)))
}
