package scan_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	jt "github.com/shiming-id/shiming/gateway/journey/journeytest"
	"github.com/shiming-id/shiming/gateway/scan"
	"github.com/shiming-id/shiming/gateway/store"
	"github.com/shiming-id/shiming/gateway/store/sqlite"
	"github.com/shiming-id/shiming/plugins/sdk"
)

// mem holds a flow part in memory, updated one change at a time like a
// flow's compare-and-swap.
type mem[T any] struct {
	mu     sync.Mutex
	v      T
	writes int
}

func (m *mem[T]) update(_ context.Context, change func(*T) error) (T, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.v
	if err := change(&c); err != nil {
		return m.v, err
	}
	m.v = c
	m.writes++
	return c, nil
}

func (m *mem[T]) get() (T, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.v, m.writes
}

type observer struct {
	mu         sync.Mutex
	errors     map[sdk.Kind]int
	recoveries map[sdk.Kind]int
}

func (o *observer) Error(_, _ string, k sdk.Kind) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.errors[k]++
}

func (o *observer) Recovery(_, _ string, k sdk.Kind) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.recoveries[k]++
}

func (o *observer) counts(k sdk.Kind) (int, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.errors[k], o.recoveries[k]
}

type fixture struct {
	m     *scan.Machine
	clock *jt.Clock
	p     *jt.Providers
	v     *jt.ScanVendor
	obs   *observer
	kv    store.KV
	s     *mem[scan.Session]
	op    scan.Op
}

const interval = 2 * time.Second

func newFixture(t *testing.T) *fixture {
	t.Helper()
	clock := jt.NewClock(time.Date(2026, 2, 27, 9, 0, 0, 0, time.UTC))
	st, err := sqlite.Open(context.Background(), t.TempDir()+"/db", sqlite.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{clock: clock, p: jt.NewProviders(clock.Now), obs: &observer{errors: map[sdk.Kind]int{}, recoveries: map[sdk.Kind]int{}},
		s: &mem[scan.Session]{}, kv: st}
	f.v = f.p.Scan["wechat"]
	f.m, err = scan.New(scan.Options{Providers: f.p, KV: st, Now: clock.Now, PollInterval: interval, Observer: f.obs,
		CallbackURL: func(p string) string { return "http://gw.test/callback/" + p }})
	if err != nil {
		t.Fatal(err)
	}
	f.op = scan.Op{Portal: "p", Kind: "realname", FlowID: "flow-1", FlowExpires: clock.Now().Add(time.Hour), Update: f.s.update}
	return f
}

func (f *fixture) begin(t *testing.T) scan.Session {
	t.Helper()
	s, err := f.m.Begin(context.Background(), f.op, "wechat")
	if err != nil || s.Phase != scan.Waiting || s.QR == "" {
		t.Fatalf("Begin = %+v, %v", s, err)
	}
	return s
}

func (f *fixture) poll(t *testing.T) scan.Session {
	t.Helper()
	cur, _ := f.s.get()
	s, err := f.m.Poll(context.Background(), f.op, cur)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPollThrottle(t *testing.T) {
	f := newFixture(t)
	f.begin(t)
	f.poll(t)
	_, writes := f.s.get()
	for range 10 {
		f.clock.Advance(interval / 10)
		f.poll(t)
	}
	if n := f.v.Calls("PollScan"); n != 2 {
		t.Fatalf("%d vendor polls over 1.9 intervals after the first, want 2", n)
	}
	if _, w := f.s.get(); w != writes {
		t.Fatalf("%d flow writes for polls with nothing new, want none", w-writes)
	}
}

// TestPollClaimAcrossReplicas runs two machines (two replicas) over one
// KV store and one flow: however both are polled, the vendor is asked
// once per interval, and a claim of one flow leaves another flow's poll
// due.
func TestPollClaimAcrossReplicas(t *testing.T) {
	f := newFixture(t)
	other, err := scan.New(scan.Options{Providers: f.p, KV: f.kv, Now: f.clock.Now, PollInterval: interval, Observer: f.obs,
		CallbackURL: func(p string) string { return "http://gw.test/callback/" + p }})
	if err != nil {
		t.Fatal(err)
	}
	f.begin(t)
	replicas := []*scan.Machine{f.m, other}
	const rounds = 4
	for range rounds {
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				cur, _ := f.s.get()
				if _, err := replicas[i%2].Poll(context.Background(), f.op, cur); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		f.clock.Advance(interval)
	}
	if n := f.v.Calls("PollScan"); n != rounds {
		t.Fatalf("%d vendor polls from two replicas over %d intervals, want %d", n, rounds, rounds)
	}

	second := &mem[scan.Session]{}
	op := f.op
	op.FlowID, op.Update = "flow-2", second.update
	s, err := other.Begin(context.Background(), op, "wechat")
	if err != nil {
		t.Fatal(err)
	}
	cur, _ := f.s.get()
	if _, err := f.m.Poll(context.Background(), f.op, cur); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Poll(context.Background(), op, s); err != nil {
		t.Fatal(err)
	}
	if n := f.v.Calls("PollScan"); n != rounds+2 {
		t.Fatalf("two flows due at once made %d vendor polls, want 2", n-rounds)
	}
}

func TestConcurrentConfirmExchangesOnce(t *testing.T) {
	f := newFixture(t)
	s := f.begin(t)
	code, err := f.v.Confirm(s.UUID, jt.ZhangWei.Identity("wechat"))
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(interval)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cur, _ := f.s.get()
			if i%2 == 0 {
				_, _ = f.m.Poll(context.Background(), f.op, cur)
			} else {
				_, _ = f.m.Callback(context.Background(), f.op, cur, "wechat", s.State, map[string]string{"code": code, "state": s.State})
			}
		}()
	}
	wg.Wait()
	got, _ := f.s.get()
	if got.Phase != scan.Done || got.Identity == nil || got.Identity.Subject != jt.ZhangWei.Identity("wechat").Subject {
		t.Fatalf("session %+v", got)
	}
	if n := f.v.Calls("ExchangeCode"); n != 1 {
		t.Fatalf("ExchangeCode called %d times", n)
	}
}

func TestConcurrentRestartsCountOnce(t *testing.T) {
	f := newFixture(t)
	s := f.begin(t)
	if err := f.v.Forget(s.UUID); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(interval)
	cur, _ := f.s.get()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each request saw the same session and the vendor's
			// answer; only the first to replace it counts.
			_, _ = f.m.Callback(context.Background(), f.op, cur, "wechat", cur.State, map[string]string{"code": "x"})
		}()
	}
	wg.Wait()
	if e, r := f.obs.counts(sdk.UUIDInvalid); e != 1 || r != 1 {
		t.Fatalf("uuid_invalid errors %d recoveries %d", e, r)
	}
	got, _ := f.s.get()
	if got.Generation != 2 || got.Notice != sdk.UUIDInvalid || got.Phase != scan.Waiting {
		t.Fatalf("session %+v", got)
	}
}

func TestCallbackIsIgnoredWhenItDoesNotFit(t *testing.T) {
	f := newFixture(t)
	s := f.begin(t)
	for name, call := range map[string]func() (scan.Session, error){
		"another provider": func() (scan.Session, error) {
			return f.m.Callback(context.Background(), f.op, s, "alipay", s.State, map[string]string{"code": "c"})
		},
		"another state": func() (scan.Session, error) {
			return f.m.Callback(context.Background(), f.op, s, "wechat", "old-state", map[string]string{"code": "c"})
		},
	} {
		if got, err := call(); err != nil || got.Generation != s.Generation || f.v.Calls("ScanCallback") != 0 {
			t.Fatalf("%s: %+v, %v", name, got, err)
		}
	}
	kind, id, err := f.m.Lookup(context.Background(), s.State)
	if err != nil || kind != "realname" || id != "flow-1" {
		t.Fatalf("Lookup = %q %q %v", kind, id, err)
	}
	if _, _, err := f.m.Lookup(context.Background(), "nope"); !errors.Is(err, scan.ErrUnknownState) {
		t.Fatalf("unknown state: %v", err)
	}
}

func TestTroubleAndStaleExchange(t *testing.T) {
	f := newFixture(t)
	f.begin(t)
	f.v.FailNext("PollScan", sdk.E(sdk.VendorUnavailable, "down"))
	f.clock.Advance(interval)
	if s := f.poll(t); s.Trouble != sdk.VendorUnavailable || s.Phase != scan.Waiting {
		t.Fatalf("vendor down: %+v", s)
	}
	f.clock.Advance(interval)
	if s := f.poll(t); s.Trouble != sdk.KindUnknown {
		t.Fatalf("the trouble was not cleared: %+v", s)
	}
	// A request that died mid-exchange leaves the session exchanging; a
	// minute later it is replaced.
	_, _ = f.s.update(context.Background(), func(s *scan.Session) error {
		s.Phase, s.ExchangeAt = scan.Exchanging, f.clock.Now()
		return nil
	})
	f.clock.Advance(30 * time.Second)
	if s := f.poll(t); s.Phase != scan.Exchanging {
		t.Fatalf("replaced too early: %+v", s)
	}
	f.clock.Advance(31 * time.Second)
	if s := f.poll(t); s.Phase != scan.Waiting || s.Generation != 2 {
		t.Fatalf("not replaced: %+v", s)
	}
	f.v.FailNext("BeginScan", sdk.E(sdk.RateLimited, "slow down"))
	s, err := f.m.Begin(context.Background(), f.op, "wechat")
	if err != nil || s.Phase != scan.Failed || s.Trouble != sdk.RateLimited || s.QR != "" {
		t.Fatalf("begin refused: %+v, %v", s, err)
	}
	f.p.SetDown("wechat", true)
	if s, _ := f.m.Begin(context.Background(), f.op, "wechat"); s.Trouble != sdk.VendorUnavailable {
		t.Fatalf("provider down: %+v", s)
	}
}

func TestFace(t *testing.T) {
	f := newFixture(t)
	face := f.p.Face["alipay"]
	fs := &mem[scan.FaceSession]{}
	op := scan.FaceOp{Portal: "p", FlowID: "face-1", Update: fs.update}
	req := sdk.FaceRequest{Name: "张伟", IDNumber: jt.ZhangWei.IDNumber}
	for i := range scan.MaxFaceFailures {
		cur, _ := fs.get()
		s, err := f.m.BeginFace(context.Background(), op, cur, "alipay", req)
		if err != nil || s.Phase != scan.FacePending {
			t.Fatalf("BeginFace %d = %+v, %v", i, s, err)
		}
		info, _ := face.Latest()
		if err := face.Fail(info.CertifyID, sdk.LivenessFailed); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(interval)
		s, err = f.m.PollFace(context.Background(), op, s)
		if err != nil || s.Phase != scan.FaceFailed || s.Reason != sdk.LivenessFailed || s.Failures != i+1 {
			t.Fatalf("PollFace %d = %+v, %v", i, s, err)
		}
	}
	cur, _ := fs.get()
	if _, err := f.m.BeginFace(context.Background(), op, cur, "alipay", req); !errors.Is(err, scan.ErrFaceAttempts) {
		t.Fatalf("a fourth attempt: %v", err)
	}
	if e, _ := f.obs.counts(sdk.LivenessFailed); e != scan.MaxFaceFailures {
		t.Fatalf("liveness_failed counted %d", e)
	}

	fs2 := &mem[scan.FaceSession]{}
	op2 := scan.FaceOp{Portal: "p", FlowID: "face-2", Update: fs2.update}
	s, _ := f.m.BeginFace(context.Background(), op2, scan.FaceSession{}, "alipay", req)
	info, _ := face.Latest()
	if err := face.Expire(info.CertifyID); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(interval)
	s, err := f.m.PollFace(context.Background(), op2, s)
	if err != nil || s.Phase != scan.FacePending || s.Notice != sdk.Expired || s.Generation != 2 {
		t.Fatalf("expired face session: %+v, %v", s, err)
	}
	info, _ = face.Latest()
	if err := face.Pass(info.CertifyID); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(interval)
	if s, err = f.m.PollFace(context.Background(), op2, s); err != nil || s.Phase != scan.FacePassed || s.Reference == "" {
		t.Fatalf("passed: %+v, %v", s, err)
	}
	if info.Request != req {
		t.Fatalf("request %+v", info.Request)
	}
}
