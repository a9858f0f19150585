package session

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shiming-id/shiming/gateway/pii"
)

type harness struct {
	t   *testing.T
	db  *fakeSessions
	clk *clock
	m   *Manager
}

func newHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	master := make([]byte, pii.KeySize)
	if _, err := rand.Read(master); err != nil {
		t.Fatal(err)
	}
	keys, err := pii.New(master)
	if err != nil {
		t.Fatal(err)
	}
	db, clk := newFake(), newClock()
	opts.Now = clk.Now
	m, err := New(db, keys, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, db: db, clk: clk, m: m}
}

// run serves one request carrying cookie (if any) with fn.
func (h *harness) run(cookie *http.Cookie, fn func(w http.ResponseWriter, r *http.Request)) *http.Response {
	h.t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if cookie != nil {
		r.AddCookie(cookie)
	}
	w := httptest.NewRecorder()
	fn(w, r)
	return w.Result()
}

// set stores key=value in the session of cookie and returns the cookie
// the browser holds afterwards.
func (h *harness) set(cookie *http.Cookie, key, value string) *http.Cookie {
	h.t.Helper()
	resp := h.run(cookie, func(w http.ResponseWriter, r *http.Request) {
		if err := h.m.Set(w, r, key, value); err != nil {
			h.t.Fatalf("Set: %v", err)
		}
	})
	return h.after(cookie, resp)
}

// value reads key from the session of cookie.
func (h *harness) value(cookie *http.Cookie, key string) string {
	h.t.Helper()
	var v string
	h.run(cookie, func(w http.ResponseWriter, r *http.Request) {
		var err error
		if v, err = h.m.Get(r, key); err != nil {
			h.t.Fatalf("Get: %v", err)
		}
	})
	return v
}

func (h *harness) account(cookie *http.Cookie) string {
	h.t.Helper()
	var id string
	h.run(cookie, func(w http.ResponseWriter, r *http.Request) {
		var err error
		if id, err = h.m.AccountID(r); err != nil {
			h.t.Fatalf("AccountID: %v", err)
		}
	})
	return id
}

func (h *harness) signIn(cookie *http.Cookie, account string) *http.Cookie {
	h.t.Helper()
	resp := h.run(cookie, func(w http.ResponseWriter, r *http.Request) {
		if err := h.m.SignIn(w, r, account); err != nil {
			h.t.Fatalf("SignIn: %v", err)
		}
	})
	c := h.after(cookie, resp)
	if c == nil {
		h.t.Fatal("SignIn set no cookie")
	}
	return c
}

// after returns the browser's session cookie after resp: the one resp
// set, or the one it had.
func (h *harness) after(had *http.Cookie, resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == h.m.CookieName() {
			if c.MaxAge < 0 {
				return nil
			}
			return &http.Cookie{Name: c.Name, Value: c.Value}
		}
	}
	return had
}

func TestCookieHoldsOnlyTheToken(t *testing.T) {
	h := newHarness(t, Options{})
	const secret = "flow-7f3a-secret-value"
	resp := h.run(nil, func(w http.ResponseWriter, r *http.Request) {
		if err := h.m.SetFlowID(w, r, "realname", secret); err != nil {
			t.Fatal(err)
		}
	})
	headers := resp.Header.Values("Set-Cookie")
	if len(headers) != 1 {
		t.Fatalf("Set-Cookie headers = %q, want one", headers)
	}
	c := resp.Cookies()[0]
	if c.Name != DefaultCookieName {
		t.Errorf("cookie name = %q", c.Name)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`).MatchString(c.Value) {
		t.Fatalf("cookie value %q is not 43 base64url characters", c.Value)
	}
	raw, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(raw) != 32 {
		t.Fatalf("cookie value decodes to %d bytes, %v", len(raw), err)
	}
	if strings.Contains(headers[0], secret) {
		t.Error("Set-Cookie carries the session value")
	}

	recs := h.db.records()
	if len(recs) != 1 {
		t.Fatalf("stored %d sessions, want 1", len(recs))
	}
	sum := sha256.Sum256([]byte(c.Value))
	if recs[0].ID != hex.EncodeToString(sum[:]) {
		t.Error("store key is not the SHA-256 of the token")
	}
	if recs[0].ID == c.Value || strings.Contains(string(recs[0].Data), c.Value) {
		t.Error("the store holds the token itself")
	}
	if bytes.Contains(recs[0].Data, []byte(secret)) || bytes.Contains(recs[0].Data, []byte("realname")) {
		t.Error("stored data is not sealed")
	}
	if got := h.value(&http.Cookie{Name: c.Name, Value: c.Value}, "flow:realname"); got != secret {
		t.Errorf("value read back = %q, want %q", got, secret)
	}
}

func TestEmptySessionIsNotStored(t *testing.T) {
	h := newHarness(t, Options{})
	resp := h.run(nil, func(w http.ResponseWriter, r *http.Request) {
		if err := h.m.Save(w, r); err != nil {
			t.Fatal(err)
		}
	})
	if len(resp.Cookies()) != 0 || len(h.db.records()) != 0 {
		t.Fatalf("an empty session set %d cookies and stored %d records", len(resp.Cookies()), len(h.db.records()))
	}
}

func TestRenewKillsTheOldID(t *testing.T) {
	for _, tc := range []struct {
		name        string
		rotate      func(h *harness, c *http.Cookie) *http.Cookie
		wantAccount string
	}{
		{"sign in", func(h *harness, c *http.Cookie) *http.Cookie { return h.signIn(c, "acct-1") }, "acct-1"},
		{"renew", func(h *harness, c *http.Cookie) *http.Cookie {
			resp := h.run(c, func(w http.ResponseWriter, r *http.Request) {
				if err := h.m.Renew(w, r); err != nil {
					h.t.Fatal(err)
				}
			})
			return h.after(nil, resp)
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			old := h.set(nil, "flow:login", "f1")
			oldID := hashToken(old.Value)

			fresh := tc.rotate(h, old)
			if fresh == nil || fresh.Value == old.Value {
				t.Fatal("no new cookie was issued")
			}
			if _, ok := h.db.get(oldID); ok {
				t.Error("the old record is still stored")
			}
			if got := h.value(old, "flow:login"); got != "" {
				t.Errorf("the old cookie still loads the session (value %q)", got)
			}
			if got := h.account(old); got != "" {
				t.Errorf("the old cookie still carries account %q", got)
			}
			if got := h.value(fresh, "flow:login"); got != "f1" {
				t.Errorf("value after rotation = %q, want f1", got)
			}
			if got := h.account(fresh); got != tc.wantAccount {
				t.Errorf("account after rotation = %q, want %q", got, tc.wantAccount)
			}
			if n := len(h.db.records()); n != 1 {
				t.Errorf("%d records stored, want 1", n)
			}
		})
	}
}

func TestRenewKeepsAbsoluteDeadlineSignInRestartsIt(t *testing.T) {
	h := newHarness(t, Options{})
	c := h.signIn(nil, "acct-1")
	first, _ := h.db.get(hashToken(c.Value))

	h.clk.Advance(10 * time.Minute)
	resp := h.run(c, func(w http.ResponseWriter, r *http.Request) {
		if err := h.m.Renew(w, r); err != nil {
			t.Fatal(err)
		}
	})
	c = h.after(c, resp)
	renewed, _ := h.db.get(hashToken(c.Value))
	if !renewed.AbsoluteExpiresAt.Equal(first.AbsoluteExpiresAt) {
		t.Errorf("Renew moved the absolute deadline from %v to %v", first.AbsoluteExpiresAt, renewed.AbsoluteExpiresAt)
	}

	h.clk.Advance(10 * time.Minute)
	c = h.signIn(c, "acct-1")
	again, _ := h.db.get(hashToken(c.Value))
	if want := h.clk.Now().Add(DefaultAbsoluteTimeout); !again.AbsoluteExpiresAt.Equal(want) {
		t.Errorf("SignIn absolute deadline = %v, want %v", again.AbsoluteExpiresAt, want)
	}
}

func TestExpiry(t *testing.T) {
	for _, tc := range []struct {
		name string
		// steps are the pauses between requests that read the session;
		// alive says whether it must still be there after each.
		steps []time.Duration
		alive []bool
	}{
		{
			name:  "idle within the timeout",
			steps: []time.Duration{29 * time.Minute, 29 * time.Minute, 29 * time.Minute},
			alive: []bool{true, true, true},
		},
		{
			name:  "idle past the timeout",
			steps: []time.Duration{20 * time.Minute, 30*time.Minute + time.Second},
			alive: []bool{true, false},
		},
		{
			name: "absolute despite activity",
			steps: func() []time.Duration {
				var s []time.Duration
				for range 24 { // 24 × 20 min = 8 h
					s = append(s, 20*time.Minute)
				}
				return s
			}(),
			alive: func() []bool {
				a := make([]bool, 24)
				for i := range 23 {
					a[i] = true
				}
				return a
			}(),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			c := h.signIn(nil, "acct-1")
			c = h.set(c, "k", "v")
			for i, d := range tc.steps {
				h.clk.Advance(d)
				got := h.value(c, "k") == "v" && h.account(c) == "acct-1"
				if got != tc.alive[i] {
					t.Fatalf("after step %d (%v in total): alive = %v, want %v", i, h.clk.Now().Sub(newClock().Now()), got, tc.alive[i])
				}
			}
		})
	}
}

func TestTouchWritesOnlyWhenItMatters(t *testing.T) {
	h := newHarness(t, Options{})
	c := h.set(nil, "k", "v")
	base := h.db.writeCount()

	for range 10 {
		h.clk.Advance(5 * time.Second)
		if h.value(c, "k") != "v" {
			t.Fatal("session lost")
		}
	}
	if got := h.db.writeCount() - base; got != 0 {
		t.Fatalf("%d writes for 10 reads within a minute, want 0", got)
	}

	h.clk.Advance(2 * time.Minute)
	h.value(c, "k")
	if got := h.db.writeCount() - base; got != 1 {
		t.Fatalf("%d writes after the deadline moved by two minutes, want 1", got)
	}
	rec, _ := h.db.get(hashToken(c.Value))
	if want := h.clk.Now().Add(DefaultIdleTimeout); !rec.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %v, want %v", rec.ExpiresAt, want)
	}

	// Saving unchanged values writes nothing either.
	h.run(c, func(w http.ResponseWriter, r *http.Request) {
		if err := h.m.Save(w, r); err != nil {
			t.Fatal(err)
		}
	})
	if got := h.db.writeCount() - base; got != 1 {
		t.Fatalf("an unchanged Save wrote (%d writes)", got)
	}
}

func TestIdleDeadlineNeverPassesAbsolute(t *testing.T) {
	h := newHarness(t, Options{IdleTimeout: 30 * time.Minute, AbsoluteTimeout: time.Hour})
	c := h.set(nil, "k", "v")
	for range 2 {
		h.clk.Advance(25 * time.Minute)
		if h.value(c, "k") != "v" {
			t.Fatal("session lost")
		}
	}
	rec, _ := h.db.get(hashToken(c.Value))
	if !rec.ExpiresAt.Equal(rec.AbsoluteExpiresAt) {
		t.Fatalf("ExpiresAt %v passes AbsoluteExpiresAt %v", rec.ExpiresAt, rec.AbsoluteExpiresAt)
	}
}

func TestEndAccount(t *testing.T) {
	h := newHarness(t, Options{})
	a1 := h.signIn(nil, "acct-a")
	a2 := h.signIn(nil, "acct-a")
	b := h.signIn(nil, "acct-b")
	anon := h.set(nil, "k", "v")

	n, err := h.m.EndAccount(t.Context(), "acct-a")
	if err != nil || n != 2 {
		t.Fatalf("EndAccount = %d, %v; want 2, nil", n, err)
	}
	for name, c := range map[string]*http.Cookie{"first": a1, "second": a2} {
		if got := h.account(c); got != "" {
			t.Errorf("%s session of acct-a still signed in as %q", name, got)
		}
	}
	if got := h.account(b); got != "acct-b" {
		t.Errorf("acct-b's session = %q, want acct-b", got)
	}
	if got := h.value(anon, "k"); got != "v" {
		t.Error("an anonymous session was ended")
	}
}

func TestSaveAfterEndAccountDoesNotResurrect(t *testing.T) {
	h := newHarness(t, Options{})
	c := h.signIn(nil, "acct-a")
	var saveErr error
	resp := h.run(c, func(w http.ResponseWriter, r *http.Request) {
		if _, err := h.m.Session(r); err != nil {
			t.Fatal(err)
		}
		// The phone change commits in another request meanwhile.
		if _, err := h.m.EndAccount(r.Context(), "acct-a"); err != nil {
			t.Fatal(err)
		}
		saveErr = h.m.Set(w, r, "k", "v")
	})
	if !errors.Is(saveErr, ErrEnded) {
		t.Fatalf("Save = %v, want ErrEnded", saveErr)
	}
	if h.after(c, resp) != nil {
		t.Error("the cookie was not expired")
	}
	if n := len(h.db.records()); n != 0 {
		t.Errorf("%d sessions stored after the account's sessions ended", n)
	}
}

func TestDestroy(t *testing.T) {
	h := newHarness(t, Options{})
	c := h.signIn(nil, "acct-a")
	resp := h.run(c, func(w http.ResponseWriter, r *http.Request) {
		if err := h.m.Destroy(w, r); err != nil {
			t.Fatal(err)
		}
		// A later Save in the same request does not bring it back.
		if err := h.m.Save(w, r); err != nil {
			t.Fatal(err)
		}
	})
	var expired bool
	for _, sc := range resp.Cookies() {
		expired = expired || (sc.Name == h.m.CookieName() && sc.MaxAge < 0 && sc.Value == "")
	}
	if !expired {
		t.Errorf("Destroy did not expire the cookie: %q", resp.Header.Values("Set-Cookie"))
	}
	if n := len(h.db.records()); n != 0 {
		t.Errorf("%d records left after Destroy", n)
	}
	if got := h.account(c); got != "" {
		t.Errorf("the destroyed cookie still signs in %q", got)
	}
}

func TestCookieFlagsOverHTTPAndHTTPS(t *testing.T) {
	for _, tc := range []struct {
		name     string
		newSrv   func(http.Handler) *httptest.Server
		wantName string
	}{
		{"plain http loopback", httptest.NewServer, "shiming_session"},
		{"https public url", httptest.NewTLSServer, "__Host-shiming_session"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m *Manager
			srv := tc.newSrv(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/set":
					if err := m.Set(w, r, "k", "v"); err != nil {
						http.Error(w, "save failed", http.StatusInternalServerError)
					}
				case "/get":
					v, err := m.Get(r, "k")
					if err != nil {
						http.Error(w, "load failed", http.StatusInternalServerError)
						return
					}
					w.Write([]byte(v))
				}
			}))
			defer srv.Close()
			public, err := url.Parse(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			h := newHarness(t, Options{Secure: public.Scheme == "https"})
			m = h.m

			client := srv.Client()
			client.Jar, _ = cookiejar.New(nil)
			resp, err := client.Get(srv.URL + "/set")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			header := resp.Header.Get("Set-Cookie")
			attrs := map[string]bool{}
			for _, part := range strings.Split(header, ";")[1:] {
				k, _, _ := strings.Cut(strings.TrimSpace(part), "=")
				attrs[strings.ToLower(k)] = true
			}
			if name, _, _ := strings.Cut(header, "="); name != tc.wantName {
				t.Errorf("cookie name = %q, want %q", name, tc.wantName)
			}
			if !strings.Contains(header, "Path=/") || !attrs["httponly"] || !strings.Contains(header, "SameSite=Lax") {
				t.Errorf("Set-Cookie %q lacks Path=/, HttpOnly or SameSite=Lax", header)
			}
			if attrs["expires"] || attrs["max-age"] || attrs["domain"] {
				t.Errorf("Set-Cookie %q is not a host-only browser-session cookie", header)
			}
			if got, want := attrs["secure"], public.Scheme == "https"; got != want {
				t.Errorf("Secure = %v, want %v (%q)", got, want, header)
			}

			// The browser sends it back and the session loads.
			resp, err = client.Get(srv.URL + "/get")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body bytes.Buffer
			body.ReadFrom(resp.Body)
			if body.String() != "v" {
				t.Errorf("value over %s = %q, want v", public.Scheme, body.String())
			}
		})
	}
}

func TestTamperedOrUnknownCookieGivesFreshSession(t *testing.T) {
	h := newHarness(t, Options{})
	good := h.set(nil, "k", "v")
	other := h.set(nil, "k", "other")

	flip := []byte(good.Value)
	if flip[0] == 'A' {
		flip[0] = 'B'
	} else {
		flip[0] = 'A'
	}
	unknown, _ := newToken()

	for _, tc := range []struct {
		name   string
		value  string
		before func()
	}{
		{name: "unknown token", value: unknown},
		{name: "one character changed", value: string(flip)},
		{name: "too short", value: "abc"},
		{name: "too long", value: good.Value + "A"},
		{name: "not base64url", value: strings.Repeat("!", 43)},
		{name: "stored data tampered", value: good.Value, before: func() {
			rec, _ := h.db.get(hashToken(good.Value))
			rec.Data[len(rec.Data)-1] ^= 1
			h.db.put(rec)
		}},
		{name: "data copied from another session", value: other.Value, before: func() {
			src, _ := h.db.get(hashToken(h.set(nil, "k", "copied").Value))
			dst, _ := h.db.get(hashToken(other.Value))
			dst.Data = src.Data
			h.db.put(dst)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before()
			}
			resp := h.run(&http.Cookie{Name: h.m.CookieName(), Value: tc.value}, func(w http.ResponseWriter, r *http.Request) {
				sess, err := h.m.Session(r)
				if err != nil {
					t.Fatalf("Session: %v", err)
				}
				if !sess.IsNew {
					t.Error("session is not new")
				}
				if v, _ := h.m.Get(r, "k"); v != "" {
					t.Errorf("fresh session holds %q", v)
				}
				if err := h.m.Set(w, r, "k", "fresh"); err != nil {
					t.Fatalf("Set: %v", err)
				}
			})
			c := h.after(nil, resp)
			if c == nil || c.Value == tc.value {
				t.Fatal("no new cookie for the fresh session")
			}
			if got := h.value(c, "k"); got != "fresh" {
				t.Errorf("fresh session value = %q", got)
			}
		})
	}
}

func TestDatabaseFailureIsAnError(t *testing.T) {
	h := newHarness(t, Options{})
	c := h.set(nil, "k", "v")
	h.db.setFail(errDown)
	h.run(c, func(w http.ResponseWriter, r *http.Request) {
		if _, err := h.m.Session(r); !errors.Is(err, errDown) {
			t.Errorf("Session = %v, want the database error", err)
		}
		if _, err := h.m.AccountID(r); !errors.Is(err, errDown) {
			t.Errorf("AccountID = %v, want the database error", err)
		}
	})
}

func TestOnlyStringsAreStored(t *testing.T) {
	h := newHarness(t, Options{})
	h.run(nil, func(w http.ResponseWriter, r *http.Request) {
		sess, err := h.m.Session(r)
		if err != nil {
			t.Fatal(err)
		}
		sess.Values["n"] = 42
		if err := h.m.Save(w, r); err == nil {
			t.Error("an int value was saved")
		}
	})
}

func TestSessionLoadsOncePerRequest(t *testing.T) {
	h := newHarness(t, Options{})
	c := h.set(nil, "k", "v")
	h.run(c, func(w http.ResponseWriter, r *http.Request) {
		s1, err := h.m.Session(r)
		if err != nil {
			t.Fatal(err)
		}
		s2, _ := h.m.Session(r)
		if s1 != s2 {
			t.Error("the session was loaded twice in one request")
		}
	})
}

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     Options
		wantName string
		wantErr  bool
	}{
		{name: "defaults", opts: Options{}, wantName: "shiming_session"},
		{name: "secure adds prefix", opts: Options{Secure: true}, wantName: "__Host-shiming_session"},
		{name: "secure keeps prefix", opts: Options{Secure: true, CookieName: "__Host-x"}, wantName: "__Host-x"},
		{name: "prefix without secure", opts: Options{CookieName: "__Host-x"}, wantErr: true},
		{name: "idle beyond absolute", opts: Options{IdleTimeout: 9 * time.Hour}, wantErr: true},
		{name: "negative", opts: Options{IdleTimeout: -time.Second}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys, _ := pii.New(make([]byte, pii.KeySize))
			m, err := New(newFake(), keys, tc.opts)
			if tc.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.CookieName() != tc.wantName {
				t.Errorf("cookie name = %q, want %q", m.CookieName(), tc.wantName)
			}
		})
	}
}

func TestDeleteExpired(t *testing.T) {
	h := newHarness(t, Options{})
	h.set(nil, "k", "v")
	h.clk.Advance(DefaultIdleTimeout + time.Second)
	live := h.set(nil, "k", "v")
	n, err := h.m.DeleteExpired(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("DeleteExpired = %d, %v; want 1", n, err)
	}
	if h.value(live, "k") != "v" {
		t.Error("a live session was deleted")
	}
}
