package handle_test

import (
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/shiming-id/shiming/plugins/sdk/handle"
)

// FuzzOpen opens arbitrary text: it never panics, and nothing opens but a
// handle of the one value this key sealed, as it was sealed (each fuzzing
// process seals it afresh, with its own nonce).
func FuzzOpen(f *testing.F) {
	s := mustSealer(f, key(0), "acme handle v1")
	want := session{State: "st", Exp: 1_800_000_000}
	sealed, err := s.Seal("scan", "app-1", want)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed, "scan", "app-1")
	f.Add(sealed, "face", "app-1")
	f.Add("", "", "")
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "scan", "app-1")
	f.Fuzz(func(t *testing.T, text, kind, binding string) {
		var got session
		if s.Open(kind, binding, text, &got) && (kind != "scan" || binding != "app-1" || got != want) {
			t.Fatalf("Open(%q, %q, %q) opened to %+v", kind, binding, text, got)
		}
	})
}

// FuzzSealOpen seals arbitrary values: they open as sealed, and not for
// another kind, another binding or under another key.
func FuzzSealOpen(f *testing.F) {
	f.Add("cert-1", "state 状态", int64(1_800_000_000), "face", "2021000000000001", "scan")
	f.Add("", "", int64(0), "", "", "x")
	f.Add("\x00\xff", "<&>", int64(-1), "ticket", "LTAI", "ticket\x00")
	s := mustSealer(f, key(0), "acme handle v1")
	other := mustSealer(f, key(1), "acme handle v1")
	f.Fuzz(func(t *testing.T, id, state string, exp int64, kind, binding, otherKind string) {
		in := session{ID: id, State: state, Exp: exp}
		text, err := s.Seal(kind, binding, in)
		if errors.Is(err, handle.ErrTooLong) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(text) > handle.MaxLen {
			t.Fatalf("a handle of %d bytes", len(text))
		}
		var out session
		if !s.Open(kind, binding, text, &out) {
			t.Fatalf("the handle of %+v does not open", in)
		}
		// JSON replaces invalid UTF-8, so only valid text comes back as is.
		if utf8.ValidString(id) && utf8.ValidString(state) && out != in {
			t.Fatalf("the handle of %+v opens to %+v", in, out)
		}
		if otherKind != kind && s.Open(otherKind, binding, text, &out) {
			t.Fatalf("opened as kind %q, sealed as %q", otherKind, kind)
		}
		if s.Open(kind, binding+"x", text, &out) {
			t.Fatal("opened under another binding")
		}
		if other.Open(kind, binding, text, &out) {
			t.Fatal("opened under another key")
		}
	})
}
