package ctid

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox"
	"github.com/shiming-id/shiming/contrib/sandbox/citizens"
	ctidsim "github.com/shiming-id/shiming/contrib/sandbox/ctid"
	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
	"github.com/shiming-id/shiming/plugins/sdk/providertest"
)

// Environment of the test binary re-run as the plugin process.
const (
	serveEnv = "SHIMING_TEST_SERVE_CTID"
	clockEnv = "SHIMING_TEST_CLOCK_FILE"
)

func TestMain(m *testing.M) {
	if os.Getenv(serveEnv) == "1" {
		sdk.Serve(newProvider(sdk.Logger(), fileClock(os.Getenv(clockEnv))))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testClock is the one clock of a test: the sandbox's, the in-process
// provider's and, through a file, the plugin process's. Expire moves it.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
	file   string
}

func newTestClock(t testing.TB) *testClock {
	c := &testClock{file: filepath.Join(t.TempDir(), "clock")}
	c.write()
	return c
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
	c.write()
}

// write replaces the clock file atomically; the caller holds c.mu.
func (c *testClock) write() {
	tmp := c.file + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.FormatInt(int64(c.offset), 10)), 0o600); err == nil {
		_ = os.Rename(tmp, c.file)
	}
}

// fileClock reads the offset a testClock writes; without a file it is
// time.Now.
func fileClock(path string) func() time.Time {
	return func() time.Time {
		if path == "" {
			return time.Now()
		}
		b, _ := os.ReadFile(path)
		n, _ := strconv.ParseInt(string(b), 10, 64)
		return time.Now().Add(time.Duration(n))
	}
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// vendor is the sandbox, with two CTID organisations, acting as the CTID
// platform and as the person's phone with the CTID app.
type vendor struct {
	t         testing.TB
	sb        *sandbox.Sandbox
	url       string
	orgs      []ctidsim.Org
	clock     *testClock
	handleKey string
	http      *http.Client
	people    providertest.People
	reg       *citizens.Registry
}

func newVendor(t testing.TB) *vendor {
	t.Helper()
	apps, err := sandbox.GenerateApps()
	if err != nil {
		t.Fatal(err)
	}
	other, err := ctidsim.GenerateOrg("另一个机构")
	if err != nil {
		t.Fatal(err)
	}
	apps.CTID = append(apps.CTID, other)
	v := &vendor{t: t, orgs: apps.CTID, clock: newTestClock(t), http: &http.Client{Timeout: 30 * time.Second}}
	srv := httptest.NewUnstartedServer(nil)
	v.url = "http://" + srv.Listener.Addr().String()
	v.sb, err = sandbox.New(sandbox.Config{DataDir: t.TempDir(), PublicURL: v.url, Now: v.clock.Now, Apps: apps, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = v.sb.Handler()
	srv.Start()
	t.Cleanup(func() { v.sb.Close(); srv.Close() })

	key := make([]byte, 32)
	_, _ = rand.Read(key)
	v.handleKey = base64.StdEncoding.EncodeToString(key)
	v.reg = citizens.Default()
	person := func(key string) providertest.Person {
		c, ok := v.reg.ByKey(key)
		if !ok {
			t.Fatalf("no citizen %s", key)
		}
		return providertest.Person{Name: c.Name, IDNumber: c.IDNumber, Phone: c.Phone}
	}
	// c035's card reads 刘䶮; the registry holds 刘岩: 二要素 fails.
	v.people = providertest.People{Match: person("c001"), Mismatch: person("c035"), FaceFail: person("c033")}
	return v
}

// config is a valid configuration for organisation i.
func (v *vendor) config(i int) json.RawMessage {
	return v.configWith(i, nil)
}

func (v *vendor) configWith(i int, change func(map[string]string)) json.RawMessage {
	m := map[string]string{
		"org_code":            v.orgs[i].OrgCode,
		"org_private_key":     v.orgs[i].OrgPrivateKeyPEM,
		"platform_public_key": v.sb.CTIDPlatformPublicKeyPEM(),
		"base_url":            v.url + "/ctid.sandbox",
		"handle_key":          v.handleKey,
		"http_timeout":        "10s",
	}
	if change != nil {
		change(m)
	}
	b, _ := json.Marshal(m)
	return b
}

// provider returns an in-process provider on the test clock, configured
// for organisation i.
func (v *vendor) provider(i int) *Provider {
	v.t.Helper()
	p := newProvider(quiet(), v.clock.Now)
	if err := p.Configure(context.Background(), v.config(i)); err != nil {
		v.t.Fatal(err)
	}
	return p
}

// command re-runs the test binary as the plugin, on the test clock.
func (v *vendor) command() *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = []string{serveEnv + "=1", clockEnv + "=" + v.clock.file}
	return cmd
}

// slow makes every CTID endpoint hold its answer 10 s: longer than the
// kit's 5 s bound, and short, because the sandbox sleeps before it reads
// the request body and so does not notice a client that gave up; the
// server's Close waits for those sleeps.
func (v *vendor) slow() func() {
	v.t.Helper()
	if err := v.post("/sandbox/faults", map[string]any{"vendor": "ctid", "latency": "10s"}); err != nil {
		v.t.Fatal(err)
	}
	return func() {
		req, _ := http.NewRequest(http.MethodDelete, v.url+"/sandbox/faults?vendor=ctid", nil)
		if resp, err := v.http.Do(req); err == nil {
			resp.Body.Close()
		}
	}
}

// inject makes the next CTID answer on path carry code.
func (v *vendor) inject(path, code string) {
	v.t.Helper()
	if err := v.post("/sandbox/faults", map[string]any{"vendor": "ctid", "path": path, "code": code, "count": 1}); err != nil {
		v.t.Fatal(err)
	}
}

func (v *vendor) post(path string, in any) error {
	b, _ := json.Marshal(in)
	resp, err := v.http.Post(v.url+path, "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s: HTTP %d: %s", path, resp.StatusCode, body)
	}
	return nil
}

// act performs an action on the virtual phone as the citizen with idNumber.
func (v *vendor) act(ctx context.Context, qr, action, idNumber string) error {
	b, _ := json.Marshal(map[string]string{"qr": qr, "action": action, "citizen": idNumber})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, v.url+"/phone/api/act", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	resp, err := v.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("phone %s: HTTP %d: %s", action, resp.StatusCode, body)
	}
	return nil
}

// pendingTitle returns the phone's title of the pending item showing qr.
func (v *vendor) pendingTitle(ctx context.Context, qr string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, v.url+"/phone/api/pending", nil)
	resp, err := v.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var pending struct {
		Items []struct {
			Title     string `json:"title"`
			QRContent string `json:"qr_content"`
		} `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&pending); err != nil {
		return "", err
	}
	for _, it := range pending.Items {
		if it.QRContent == qr {
			return it.Title, nil
		}
	}
	return "", errors.New("the QR content is not pending on the phone")
}

// The phone, as providertest sees it.

// Scan opens the QR content in the CTID app: the card-read item shows up.
func (v *vendor) Scan(ctx context.Context, qr string) error {
	_, err := v.pendingTitle(ctx, qr)
	return err
}

// Approve reads People.Match's card. CTID reports it to polling only.
func (v *vendor) Approve(ctx context.Context, qr string) (map[string]string, error) {
	return nil, v.act(ctx, qr, "read", v.people.Match.IDNumber)
}

func (v *vendor) Cancel(ctx context.Context, qr string) (map[string]string, error) {
	return nil, v.act(ctx, qr, "cancel", v.people.Match.IDNumber)
}

// Expire moves the clock past the bsn's five minutes.
func (v *vendor) Expire(context.Context, string) error {
	v.clock.Advance(defaultTTL + time.Minute)
	return nil
}

// Face reads whose portrait check it is from the phone's screen
// (人像核验：「…」，张伟（110***********002X）) and passes it as that person.
func (v *vendor) Face(ctx context.Context, qr string) error {
	title, err := v.pendingTitle(ctx, qr)
	if err != nil {
		return err
	}
	for _, p := range []providertest.Person{v.people.Match, v.people.FaceFail, v.people.Mismatch} {
		if strings.Contains(title, "，"+p.Name+"（"+cnid.MaskID(p.IDNumber)+"）") {
			return v.act(ctx, qr, "pass", p.IDNumber)
		}
	}
	return fmt.Errorf("portrait check %q is for nobody the test knows", title)
}

func (v *vendor) SMSCode(context.Context, string) (string, error) {
	return "", errors.New("CTID sends no SMS")
}

// TestConformance runs the kit over the sandbox, in this process and over
// a real plugin process (this test binary re-run as the plugin).
func TestConformance(t *testing.T) {
	v := newVendor(t)
	providertest.Run(t, providertest.Harness{
		New:         func() sdk.Provider { return newProvider(quiet(), v.clock.Now) },
		Command:     v.command,
		Config:      v.config(0),
		OtherConfig: v.config(1),
		BadConfig:   json.RawMessage(`{"org_code":"","org_private_key":"nope","base_url":"ftp://x","handle_key":"c2hvcnQ=","http_timeout":"forever"}`),
		BadFields:   []string{"org_code", "org_private_key", "platform_public_key", "base_url", "handle_key", "http_timeout"},
		Phone:       v,
		People:      v.people,
		Slow:        v.slow,
	})
}

var _ providertest.Phone = (*vendor)(nil)
