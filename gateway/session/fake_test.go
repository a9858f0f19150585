package session

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/shiming-id/shiming/gateway/store"
)

// fakeSessions is an in-memory store.Sessions that keeps to the
// interface's contract and counts writes.
type fakeSessions struct {
	mu     sync.Mutex
	m      map[string]store.Session
	writes int   // successful creates and updates
	fail   error // when set, every call returns it
}

func newFake() *fakeSessions { return &fakeSessions{m: map[string]store.Session{}} }

var _ store.Sessions = (*fakeSessions)(nil)

func cloneSession(s store.Session) store.Session {
	s.Data = slices.Clone(s.Data)
	return s
}

func (f *fakeSessions) CreateSession(_ context.Context, s store.Session) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	if _, ok := f.m[s.ID]; ok {
		return store.ErrAlreadyExists
	}
	f.m[s.ID] = cloneSession(s)
	f.writes++
	return nil
}

func (f *fakeSessions) GetSession(_ context.Context, id string, now time.Time) (store.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return store.Session{}, f.fail
	}
	s, ok := f.m[id]
	if !ok || !now.Before(s.ExpiresAt) {
		return store.Session{}, store.ErrNotFound
	}
	return cloneSession(s), nil
}

func (f *fakeSessions) UpdateSession(_ context.Context, s store.Session) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	if _, ok := f.m[s.ID]; !ok {
		return store.ErrNotFound
	}
	f.m[s.ID] = cloneSession(s)
	f.writes++
	return nil
}

func (f *fakeSessions) TouchSession(_ context.Context, id string, lastSeen, expires time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	s, ok := f.m[id]
	if !ok {
		return store.ErrNotFound
	}
	s.LastSeenAt, s.ExpiresAt = lastSeen, expires
	f.m[id] = s
	f.writes++
	return nil
}

func (f *fakeSessions) DeleteSession(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	if _, ok := f.m[id]; !ok {
		return store.ErrNotFound
	}
	delete(f.m, id)
	return nil
}

func (f *fakeSessions) DeleteAccountSessions(_ context.Context, accountID string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return 0, f.fail
	}
	n := 0
	for id, s := range f.m {
		if s.AccountID == accountID {
			delete(f.m, id)
			n++
		}
	}
	return n, nil
}

func (f *fakeSessions) DeleteExpiredSessions(_ context.Context, now time.Time) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return 0, f.fail
	}
	n := 0
	for id, s := range f.m {
		if !now.Before(s.ExpiresAt) {
			delete(f.m, id)
			n++
		}
	}
	return n, nil
}

// records returns a copy of every stored session.
func (f *fakeSessions) records() []store.Session {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Collect(maps.Values(f.m))
}

func (f *fakeSessions) get(id string) (store.Session, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.m[id]
	return s, ok
}

func (f *fakeSessions) put(s store.Session) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[s.ID] = s
}

func (f *fakeSessions) writeCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writes
}

func (f *fakeSessions) setFail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

var errDown = errors.New("database down")

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock {
	return &clock{now: time.Date(2022, 2, 27, 9, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
