package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestRoundRobinKeepsTheOrigin(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	replica := func(name string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen = append(seen, name+" "+r.Host)
			mu.Unlock()
		}))
	}
	a, b := replica("a"), replica("b")
	defer a.Close()
	defer b.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer other.Close()

	rr, err := newRoundRobin(http.DefaultTransport, []string{a.URL, b.URL})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: rr}
	for range 4 {
		resp, err := client.Get(a.URL + "/x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	// Another host (the sandbox) is not balanced.
	resp, err := client.Get(other.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	origin := strings.TrimPrefix(a.URL, "http://")
	want := []string{"a " + origin, "b " + origin, "a " + origin, "b " + origin}
	if strings.Join(seen, ",") != strings.Join(want, ",") {
		t.Errorf("replicas saw %q, want %q", seen, want)
	}
}
