package session

import (
	"net/http"
	"testing"
)

func TestBinding(t *testing.T) {
	h := newHarness(t, Options{})
	var cookie *http.Cookie
	var first string
	resp := h.run(nil, func(w http.ResponseWriter, r *http.Request) {
		if b, err := h.m.CurrentBinding(r); err != nil || b != "" {
			t.Fatalf("CurrentBinding of a new browser = %q, %v", b, err)
		}
		var err error
		if first, err = h.m.Binding(w, r); err != nil || len(first) < 22 {
			t.Fatalf("Binding = %q, %v", first, err)
		}
		again, err := h.m.Binding(w, r)
		if err != nil || again != first {
			t.Fatalf("second Binding in one request = %q, %v", again, err)
		}
	})
	cookie = h.after(nil, resp)
	if cookie == nil {
		t.Fatal("Binding set no cookie")
	}
	if got := h.value(cookie, bindingKey); got != first {
		t.Fatalf("stored binding %q, want %q", got, first)
	}
	signedIn := h.signIn(cookie, "a1")
	if got := h.value(signedIn, bindingKey); got != first {
		t.Fatalf("binding after SignIn %q, want %q", got, first)
	}
	other := h.set(nil, "x", "y")
	var second string
	h.run(other, func(w http.ResponseWriter, r *http.Request) {
		var err error
		if second, err = h.m.Binding(w, r); err != nil {
			t.Fatal(err)
		}
	})
	if second == first {
		t.Fatal("two browsers share a binding")
	}
	resp = h.run(signedIn, func(w http.ResponseWriter, r *http.Request) {
		if err := h.m.Destroy(w, r); err != nil {
			t.Fatal(err)
		}
	})
	if h.after(signedIn, resp) != nil {
		t.Fatal("Destroy kept the cookie")
	}
	if got := h.value(signedIn, bindingKey); got != "" {
		t.Fatalf("binding after Destroy = %q", got)
	}
}
