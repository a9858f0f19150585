package flow

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shiming-id/shiming/gateway/pii"
	"github.com/shiming-id/shiming/gateway/store/sqlite"
)

type state struct {
	Step  string
	Count int
	Name  string
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func newEngine(t *testing.T) (*Engine, *clock, string) {
	t.Helper()
	c := &clock{now: time.Date(2026, 2, 27, 9, 0, 0, 0, time.UTC)}
	path := t.TempDir() + "/f.db"
	st, err := sqlite.Open(context.Background(), path, sqlite.Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, _ := pii.New(bytes.Repeat([]byte{2}, pii.KeySize))
	return NewEngine(st, keys, c.Now), c, path
}

func TestCreateLoadBinding(t *testing.T) {
	ctx := context.Background()
	e, c, _ := newEngine(t)
	f, err := Create(ctx, e, "realname", "browser-a", 10*time.Minute, state{Step: "choose", Name: "张伟"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Load[state](ctx, e, "realname", f.ID, "browser-a")
	if err != nil || got.State.Name != "张伟" || got.State.Step != "choose" {
		t.Fatalf("Load = %+v, %v", got, err)
	}
	if _, err := Load[state](ctx, e, "realname", f.ID, "browser-b"); !errors.Is(err, ErrForeign) {
		t.Fatalf("other browser: %v", err)
	}
	if _, err := Load[state](ctx, e, "login", f.ID, "browser-a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("other kind: %v", err)
	}
	c.Add(11 * time.Minute)
	if _, err := Load[state](ctx, e, "realname", f.ID, "browser-a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired: %v", err)
	}
}

func TestUpdateConcurrent(t *testing.T) {
	ctx := context.Background()
	e, _, _ := newEngine(t)
	f, _ := Create(ctx, e, "realname", "b", time.Hour, state{})
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := Update(ctx, e, "realname", f.ID, "b", func(s *state) error { s.Count++; return nil }); err != nil && !errors.Is(err, ErrConflict) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, _ := Load[state](ctx, e, "realname", f.ID, "b")
	if got.State.Count == 0 || got.State.Count > 10 {
		t.Fatalf("count = %d", got.State.Count)
	}
	// Each saved increment is counted once: version moved by the same amount.
	if got.Version != int64(1+got.State.Count) {
		t.Fatalf("version %d after %d increments", got.Version, got.State.Count)
	}
}

func TestUpdateOnceOnly(t *testing.T) {
	// A step guarded by the state advances once however many requests race.
	ctx := context.Background()
	e, _, _ := newEngine(t)
	f, _ := Create(ctx, e, "realname", "b", time.Hour, state{Step: "qr"})
	var advanced atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := Update(ctx, e, "realname", f.ID, "b", func(s *state) error {
				if s.Step != "qr" {
					return errAlready
				}
				s.Step = "identity"
				return nil
			})
			if err == nil {
				advanced.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := advanced.Load(); n != 1 {
		t.Fatalf("step advanced %d times", n)
	}
}

var errAlready = errors.New("already advanced")
