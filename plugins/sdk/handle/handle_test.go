package handle_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/shiming-id/shiming/plugins/sdk/handle"
)

type session struct {
	ID    string `json:"i,omitempty"`
	State string `json:"s,omitempty"`
	Exp   int64  `json:"e"`
}

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func mustSealer(t testing.TB, k []byte, label string) *handle.Sealer {
	t.Helper()
	s, err := handle.NewSealer(k, label)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewSealer(t *testing.T) {
	cases := []struct {
		name  string
		key   []byte
		label string
		err   error
	}{
		{"a handle_key", key(1), "acme handle v1", nil},
		{"a longer key", bytes.Repeat([]byte{1}, 64), "acme handle v1", nil},
		{"no key", nil, "acme handle v1", handle.ErrShortKey},
		{"a short key", key(1)[:31], "acme handle v1", handle.ErrShortKey},
		{"no label", key(1), "", handle.ErrNoLabel},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := handle.NewSealer(tc.key, tc.label)
			if !errors.Is(err, tc.err) {
				t.Fatalf("NewSealer = %v, want %v", err, tc.err)
			}
			if (s == nil) != (tc.err != nil) {
				t.Fatalf("NewSealer returned %v with error %v", s, err)
			}
		})
	}
}

func TestSealOpen(t *testing.T) {
	s := mustSealer(t, key(0), "acme handle v1")
	in := session{ID: "cert-1", State: "state 状态 <&>", Exp: 1_900_000_000}
	text, err := s.Seal("face", "app-1", in)
	if err != nil {
		t.Fatal(err)
	}
	var out session
	if !s.Open("face", "app-1", text, &out) || out != in {
		t.Fatalf("Open(Seal(%+v)) = %+v", in, out)
	}
	if again, _ := s.Seal("face", "app-1", in); again == text {
		t.Error("two seals of one value are equal: the nonce is not fresh")
	}
	if strings.Contains(text, "cert-1") || strings.ContainsAny(text, "+/=.") {
		t.Errorf("handle %q is not opaque base64url", text)
	}
	if again := mustSealer(t, key(0), "acme handle v1"); !again.Open("face", "app-1", text, &out) {
		t.Error("another sealer with the same key and label (another replica) does not open it")
	}

	flipped := []byte(text)
	flipped[len(flipped)/2] ^= 1
	cases := []struct {
		name          string
		s             *handle.Sealer
		kind, binding string
		text          string
	}{
		{"another kind", s, "scan", "app-1", text},
		{"another binding", s, "face", "app-2", text},
		{"kind and binding run together", s, "faceapp-1", "", text},
		{"another key", mustSealer(t, key(1), "acme handle v1"), "face", "app-1", text},
		{"another label", mustSealer(t, key(0), "acme handle v2"), "face", "app-1", text},
		{"a changed character", s, "face", "app-1", string(flipped)},
		{"truncated", s, "face", "app-1", text[:len(text)-2]},
		{"a character added", s, "face", "app-1", text + "A"},
		{"empty", s, "face", "app-1", ""},
		{"not base64url", s, "face", "app-1", "**"},
		{"padded base64", s, "face", "app-1", text + "=="},
		{"shorter than a nonce", s, "face", "app-1", "AAAA"},
		{"too long", s, "face", "app-1", strings.Repeat("A", handle.MaxLen+1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var v session
			if tc.s.Open(tc.kind, tc.binding, tc.text, &v) {
				t.Fatalf("opened to %+v", v)
			}
		})
	}
}

func TestOpenIntoAnotherType(t *testing.T) {
	s := mustSealer(t, key(0), "acme handle v1")
	text, err := s.Seal("scan", "app-1", "a string")
	if err != nil {
		t.Fatal(err)
	}
	var v session
	if s.Open("scan", "app-1", text, &v) {
		t.Fatalf("a sealed string opened into a struct: %+v", v)
	}
	var str string
	if !s.Open("scan", "app-1", text, &str) || str != "a string" {
		t.Fatalf("Open = %q", str)
	}
}

func TestSealErrors(t *testing.T) {
	s := mustSealer(t, key(0), "acme handle v1")
	if _, err := s.Seal("scan", "app-1", func() {}); err == nil || errors.Is(err, handle.ErrTooLong) {
		t.Errorf("Seal of a func = %v, want an encoding error", err)
	}
	if _, err := s.Seal("scan", "app-1", strings.Repeat("x", handle.MaxLen)); !errors.Is(err, handle.ErrTooLong) {
		t.Errorf("Seal of a long value = %v, want ErrTooLong", err)
	}
	// The longest value that fits round-trips: Seal never makes a handle
	// Open refuses.
	for n := handle.MaxLen * 3 / 4; ; n-- {
		text, err := s.Seal("scan", "app-1", strings.Repeat("x", n))
		if errors.Is(err, handle.ErrTooLong) {
			continue
		}
		var out string
		if err != nil || len(text) > handle.MaxLen || !s.Open("scan", "app-1", text, &out) || len(out) != n {
			t.Fatalf("the longest value (%d bytes): handle of %d bytes, %v", n, len(text), err)
		}
		break
	}
}
