package password

import (
	"errors"
	"strings"
	"testing"
)

var fast = Params{MemoryKiB: 8 * 1024, Iterations: 1, Parallelism: 1}

func TestHashVerify(t *testing.T) {
	h, err := Hash("Secret123", fast)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=8192,t=1,p=1$") {
		t.Fatalf("hash = %s", h)
	}
	if err := Verify("Secret123", h); err != nil {
		t.Fatalf("Verify = %v", err)
	}
	if err := Verify("secret123", h); !errors.Is(err, ErrMismatch) {
		t.Fatalf("Verify wrong = %v", err)
	}
	h2, _ := Hash("Secret123", fast)
	if h == h2 {
		t.Fatal("salts are not random")
	}
	if !NeedsRehash(h, DefaultParams) || NeedsRehash(h, fast) {
		t.Fatal("NeedsRehash is wrong")
	}
}

func TestVerifyMalformed(t *testing.T) {
	for _, h := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "$argon2id$v=19$m=8,t=1$x$y"} {
		if err := Verify("x", h); !errors.Is(err, ErrMalformed) {
			t.Errorf("Verify(%q) = %v, want ErrMalformed", h, err)
		}
	}
}

func TestCheckPolicy(t *testing.T) {
	tests := []struct {
		name, pw string
		want     error
	}{
		{"ok", "kaoshi2026", nil},
		{"short", "ab1", ErrTooShort},
		{"digits only", "12345678", ErrTooSimple},
		{"letters only", "abcdefgh", ErrTooSimple},
		{"contains phone", "a13800001001", ErrContainsID},
		{"contains id lower x", "p11010519491231002x", ErrContainsID},
		{"control", "abc\x00defg1", ErrControlChar},
		{"chinese letters count", "考试报名2026年", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := CheckPolicy(tc.pw, "11010519491231002X", "13800001001"); !errors.Is(got, tc.want) {
				t.Fatalf("CheckPolicy = %v, want %v", got, tc.want)
			}
		})
	}
}

func BenchmarkHashDefault(b *testing.B) {
	for b.Loop() {
		if _, err := Hash("kaoshi2026", DefaultParams); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHashParallel hashes at the default cost on every core at once:
// the password ceiling of the machine, the most password sign-ins or
// registrations per second it can do (BENCHMARKS.md (a)).
func BenchmarkHashParallel(b *testing.B) {
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := Hash("kaoshi2026", DefaultParams); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hashes/s")
}

func FuzzVerify(f *testing.F) {
	h, _ := Hash("Secret123", fast)
	f.Add("Secret123", h)
	f.Add("x", "$argon2id$v=19$m=8192,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, pw, hash string) {
		if p, _, _, err := parse(hash); err == nil && (p.MemoryKiB > 64*1024 || p.Iterations > 4 || p.Parallelism > 4) {
			return // valid but too costly to run thousands of times
		}
		_ = Verify(pw, hash) // never panics
	})
}
