package account

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/shiming-id/shiming/gateway/password"
	"github.com/shiming-id/shiming/gateway/pii"
	"github.com/shiming-id/shiming/gateway/store/sqlite"
)

func newService(t *testing.T) *Service {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir()+"/s.db", sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := pii.New(bytes.Repeat([]byte{1}, pii.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewService(st, keys, password.Params{MemoryKiB: 8 * 1024, Iterations: 1, Parallelism: 1}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var zhang = New{
	Name: "张伟", IDNumber: "430102199503141235", Phone: "13800001001", Password: "kaoshi2026", Portal: "hunanpea",
	Evidence: []Evidence{{Provider: "wechat", Level: "name_id", Reference: "r1", VerifiedAt: time.Now()}},
	Links:    []Link{{Provider: "wechat", Subject: "union-1"}},
}

func TestCreateAndFind(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	a, err := s.Create(ctx, zhang)
	if err != nil {
		t.Fatal(err)
	}
	for name, find := range map[string]func() (Account, error){
		"id":        func() (Account, error) { return s.ByID(ctx, a.ID) },
		"id number": func() (Account, error) { return s.ByIDNumber(ctx, "430102199503141235") },
		"phone":     func() (Account, error) { return s.ByPhone(ctx, "13800001001") },
		"link":      func() (Account, error) { return s.ByLink(ctx, "wechat", "union-1") },
	} {
		got, err := find()
		if err != nil || got.ID != a.ID || got.Name != "张伟" || got.IDNumber != zhang.IDNumber || got.Phone != zhang.Phone {
			t.Errorf("by %s = %+v, %v", name, got, err)
		}
	}
	if got := a.BirthDate().Format("2006-01-02"); got != "1995-03-14" {
		t.Errorf("birth date = %s", got)
	}
	ev, err := s.Evidence(ctx, a.ID)
	if err != nil || len(ev) != 1 || ev[0].Provider != "wechat" {
		t.Errorf("evidence = %+v, %v", ev, err)
	}
	if _, err := s.ByIDNumber(ctx, "11010519491231002X"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown number: %v", err)
	}
}

func TestCreateTaken(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	if _, err := s.Create(ctx, zhang); err != nil {
		t.Fatal(err)
	}
	sameID := zhang
	sameID.Phone, sameID.Links = "13800001002", nil
	if _, err := s.Create(ctx, sameID); !errors.Is(err, ErrIDNumberTaken) {
		t.Errorf("same ID number: %v", err)
	}
	samePhone := zhang
	samePhone.IDNumber, samePhone.Links = "11010519491231002X", nil
	if _, err := s.Create(ctx, samePhone); !errors.Is(err, ErrPhoneTaken) {
		t.Errorf("same phone: %v", err)
	}
	sameLink := zhang
	sameLink.IDNumber, sameLink.Phone = "11010519491231002X", "13800001003"
	if _, err := s.Create(ctx, sameLink); !errors.Is(err, ErrLinkTaken) {
		t.Errorf("same link: %v", err)
	}
}

func TestCheckPassword(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	a, _ := s.Create(ctx, zhang)
	if got, err := s.CheckPassword(ctx, "430102199503141235", "kaoshi2026"); err != nil || got.ID != a.ID {
		t.Fatalf("right password: %v", err)
	}
	if _, err := s.CheckPassword(ctx, "430102199503141235", "wrong"); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := s.CheckPassword(ctx, "11010519491231002X", "kaoshi2026"); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("unknown account must look like a wrong password: %v", err)
	}
}

func TestChangePhone(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	a, _ := s.Create(ctx, zhang)
	other := zhang
	other.IDNumber, other.Phone, other.Links = "11010519491231002X", "13800001009", nil
	if _, err := s.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ChangePhone(ctx, a.ID, "13800001009"); !errors.Is(err, ErrPhoneTaken) {
		t.Fatalf("phone of another account: %v", err)
	}
	// Concurrent changes: each either wins or retries; none is lost silently.
	var wg sync.WaitGroup
	for _, p := range []string{"13900000001", "13900000002"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.ChangePhone(ctx, a.ID, p); err != nil {
				t.Errorf("ChangePhone(%s): %v", p, err)
			}
		}()
	}
	wg.Wait()
	got, _ := s.ByID(ctx, a.ID)
	if got.Phone != "13900000001" && got.Phone != "13900000002" {
		t.Fatalf("phone = %s", got.Phone)
	}
	if _, err := s.ByPhone(ctx, "13800001001"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("old phone still finds the account: %v", err)
	}
}

// TestHashingWaitsForACore fills every hashing slot: password work then
// waits, and gives up with the request's context, for known and unknown
// ID numbers alike; a freed slot lets it through.
func TestHashingWaitsForACore(t *testing.T) {
	s := newService(t)
	ctx := context.Background()
	if _, err := s.Create(ctx, zhang); err != nil {
		t.Fatal(err)
	}
	for range cap(s.hashing) {
		s.hashing <- struct{}{}
	}
	tests := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"sign-in", func(ctx context.Context) error {
			_, err := s.CheckPassword(ctx, zhang.IDNumber, zhang.Password)
			return err
		}},
		{"unknown number", func(ctx context.Context) error { _, err := s.CheckPassword(ctx, "430102199503141243", "x"); return err }},
		{"new account", func(ctx context.Context) error {
			n := zhang
			n.IDNumber, n.Phone, n.Links = "430103199708222465", "13800001002", nil
			_, err := s.Create(ctx, n)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			if err := tt.call(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("with every slot taken: %v, want the context's deadline", err)
			}
		})
	}
	done := make(chan error, 1)
	go func() { _, err := s.CheckPassword(ctx, zhang.IDNumber, zhang.Password); done <- err }()
	<-s.hashing
	if err := <-done; err != nil {
		t.Fatalf("after a slot was freed: %v", err)
	}
	if n := len(s.hashing); n != cap(s.hashing)-1 {
		t.Errorf("%d slots taken after the sign-in, want %d", n, cap(s.hashing)-1)
	}
}
