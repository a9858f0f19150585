package main

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/shiming-id/shiming/gateway/audit"
	"github.com/shiming-id/shiming/gateway/config"
	"github.com/shiming-id/shiming/gateway/httpserver"
	"github.com/shiming-id/shiming/gateway/store/sqlite"
)

// TestMain lets the test binary stand in for the shiming executable: the
// plugin host starts built-in plugins as `<exe> plugin NAME`, and inside
// a test the executable is this binary.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "plugin" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// freeAddr returns a loopback address nobody listens on at the moment.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// assembled builds the real server of the embedded default (nothing
// started: no listeners served, no plugins) over a temporary data folder;
// change adjusts the configuration first.
func assembled(t *testing.T, change func(*config.Config)) *server {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen, cfg.OpsListen, cfg.Sandbox.Listen = freeAddr(t), freeAddr(t), freeAddr(t)
	if change != nil {
		change(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s, err := newServer(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if s != nil {
		t.Cleanup(s.close)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestEveryStateChangingRouteRefusesCrossOrigin walks the route table of
// the fully assembled gateway (journeys, registration, operator pages,
// static files) and sends every state-changing route a forged request
// three ways a browser can: a cross-site form post, an old browser that
// sends only Origin, and a sibling subdomain (same-site is not
// same-origin). The real middleware chain refuses each with 403 and the
// page that says why, before any handler runs, and counts it.
func TestEveryStateChangingRouteRefusesCrossOrigin(t *testing.T) {
	s := assembled(t, nil)
	forgeries := []struct {
		name    string
		headers map[string]string
	}{
		{"cross-site", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}},
		{"origin only", map[string]string{"Origin": "https://evil.example"}},
		{"same-site", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://www.example.com"}},
	}
	refused := 0
	for _, route := range s.router.Routes() {
		if !route.StateChanging() {
			continue
		}
		for _, f := range forgeries {
			req := httptest.NewRequest(route.SampleMethod(), route.SamplePath(), strings.NewReader("action=send&phone=13800001001"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range f.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			s.public.ServeHTTP(rec, req)
			if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), httpserver.CrossOriginMessage) {
				t.Errorf("%s %s (%s): status %d", route.SampleMethod(), route.SamplePath(), f.name, rec.Code)
				continue
			}
			if rec.Header().Get("Set-Cookie") != "" {
				t.Errorf("%s %s (%s): a refused request set a cookie", route.SampleMethod(), route.SamplePath(), f.name)
			}
			refused++
		}
	}
	// The assembled gateway has 88 state-changing routes (28 per portal,
	// 4 for operators); far fewer means routes went missing from the
	// walk, and the test would prove less than it says.
	if refused < 3*80 {
		t.Fatalf("only %d forged requests sent: the route table is smaller than expected", refused)
	}
	if got := counter(t, s, "shiming_http_cross_origin_rejections_total"); got != float64(refused) {
		t.Errorf("cross-origin rejections counted %v, want %d", got, refused)
	}

	t.Run("same-origin and safe requests pass", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPost, "/hunanpea/realname/start", nil)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		rec := httptest.NewRecorder()
		s.public.ServeHTTP(rec, req)
		if rec.Code != http.StatusSeeOther || !strings.HasSuffix(rec.Header().Get("Location"), "/choose") {
			t.Fatalf("same-origin start: %d %q", rec.Code, rec.Header().Get("Location"))
		}
		req = httptest.NewRequest(http.MethodGet, "/hunanpea/", nil)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		rec = httptest.NewRecorder()
		s.public.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("a link from another site to the portal: %d", rec.Code)
		}
	})
}

// counter returns the value of a counter with one series in the
// server's registry.
func counter(t *testing.T, s *server, name string) float64 {
	t.Helper()
	mfs, err := s.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no single-series counter %s", name)
	return 0
}

// TestSessionCookieOnRealResponses reads the session cookie the
// assembled gateway sets when a candidate starts a journey: HttpOnly,
// SameSite=Lax, Path=/, no Expires or Max-Age (closing the browser ends
// it), no Domain; over an https public URL also Secure with the
// "__Host-" prefix (ASVS 3.3.1–3.3.4).
func TestSessionCookieOnRealResponses(t *testing.T) {
	for _, tc := range []struct {
		name      string
		publicURL string
		cookie    string
		secure    bool
	}{
		{"plain http on loopback", "", "shiming_session", false},
		{"https public URL", "https://exam.example.gov.cn", "__Host-shiming_session", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := assembled(t, func(c *config.Config) { c.PublicURL = tc.publicURL })
			req := httptest.NewRequest(http.MethodPost, "/hunanpea/realname/start", nil)
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			rec := httptest.NewRecorder()
			s.public.ServeHTTP(rec, req)
			if rec.Code != http.StatusSeeOther {
				t.Fatalf("start: %d", rec.Code)
			}
			var raw string
			for _, h := range rec.Header().Values("Set-Cookie") {
				if strings.HasPrefix(h, tc.cookie+"=") {
					raw = h
				}
			}
			if raw == "" {
				t.Fatalf("no %s cookie in %q", tc.cookie, rec.Header().Values("Set-Cookie"))
			}
			attrs := map[string]string{}
			for _, part := range strings.Split(raw, ";")[1:] {
				k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
				attrs[strings.ToLower(k)] = v
			}
			if _, ok := attrs["httponly"]; !ok {
				t.Errorf("not HttpOnly: %s", raw)
			}
			if attrs["samesite"] != "Lax" || attrs["path"] != "/" {
				t.Errorf("SameSite or Path wrong: %s", raw)
			}
			for _, a := range []string{"expires", "max-age", "domain"} {
				if _, ok := attrs[a]; ok {
					t.Errorf("has %s: %s", a, raw)
				}
			}
			if _, ok := attrs["secure"]; ok != tc.secure {
				t.Errorf("Secure = %v, want %v: %s", ok, tc.secure, raw)
			}
			if hsts := rec.Header().Get("Strict-Transport-Security"); (hsts != "") != tc.secure {
				t.Errorf("Strict-Transport-Security %q over %s", hsts, tc.name)
			}
		})
	}
}

// auditChain writes n audit records to the SQLite database of a data
// folder, as the gateway would, and returns the folder.
func auditChain(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "shiming.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log := audit.New(st, time.Now, slog.New(slog.DiscardHandler))
	for i := range n {
		if err := log.Record(context.Background(), audit.KindLogin, "acct-1", "430***********123X", map[string]string{"n": string(rune('0' + i))}); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestAuditVerifyCommand runs `shiming audit verify --data DIR` on an
// intact chain (exit 0), then on chains where someone holding the
// database file dropped the append-only triggers and changed or removed
// a record: the command fails and names the broken record.
func TestAuditVerifyCommand(t *testing.T) {
	verify := func(dir string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run([]string{"audit", "verify", "--data", dir}, &out, &errb)
		return code, out.String(), errb.String()
	}
	dir := auditChain(t, 5)
	if code, out, stderr := verify(dir); code != 0 || !strings.Contains(out, "audit chain intact: 5 records") {
		t.Fatalf("intact chain: exit %d\n%s%s", code, out, stderr)
	}
	for _, tc := range []struct {
		name, stmt, want string
	}{
		{"a record changed", `UPDATE audit SET subject = '430***********999X' WHERE seq = 3`, "chain broken at record 3"},
		{"a record removed", `DELETE FROM audit WHERE seq = 2`, "chain broken at record 2"},
		{"the newest record removed", `DELETE FROM audit WHERE seq = 5`, "chain broken at record 5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := auditChain(t, 5)
			raw, err := sql.Open("sqlite", filepath.Join(dir, "shiming.db"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := raw.Exec(`DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; ` + tc.stmt); err != nil {
				t.Fatal(err)
			}
			raw.Close()
			code, out, stderr := verify(dir)
			if code == 0 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, want a failure naming %q\nstdout: %s\nstderr: %s", code, tc.want, out, stderr)
			}
		})
	}
}

// TestClientIPTrustsOnlyConfiguredProxies checks the address every
// per-client limit counts: X-Forwarded-For is believed only from a
// configured trusted proxy, and then only up to the first hop that is not
// one, so a client cannot pick its own address to dodge the limits.
func TestClientIPTrustsOnlyConfiguredProxies(t *testing.T) {
	ip, err := clientIPFunc([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, remote, xff, want string
	}{
		{"direct client", "203.0.113.7:5000", "", "203.0.113.7"},
		{"direct client forging the header", "203.0.113.7:5000", "198.51.100.1", "203.0.113.7"},
		{"through the balancer", "10.0.0.2:443", "203.0.113.7", "203.0.113.7"},
		{"a forged hop before the real one", "10.0.0.2:443", "198.51.100.1, 203.0.113.7", "203.0.113.7"},
		{"two trusted hops", "10.0.0.2:443", "203.0.113.7, 10.0.0.3", "203.0.113.7"},
		{"garbage in the header", "10.0.0.2:443", "not-an-ip", "10.0.0.2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.remote
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			if got := ip(r); got != tc.want {
				t.Fatalf("client address %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := clientIPFunc([]string{"10.0.0.0"}); err == nil {
		t.Fatal("a trusted proxy that is not a CIDR was accepted")
	}
}
