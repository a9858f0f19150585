package alipay

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
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox"
	alipaysim "github.com/shiming-id/shiming/contrib/sandbox/alipay"
	"github.com/shiming-id/shiming/contrib/sandbox/citizens"
	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/providertest"
)

// Environment of the test binary re-run as the plugin process.
const (
	serveEnv = "SHIMING_TEST_SERVE_ALIPAY"
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

// vendor is the sandbox, with two Alipay apps, acting as Alipay and as the
// person's phone.
type vendor struct {
	t         testing.TB
	sb        *sandbox.Sandbox
	url       string
	apps      []alipaysim.App
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
	other, err := alipaysim.GenerateApp("另一个应用")
	if err != nil {
		t.Fatal(err)
	}
	apps.Alipay[0].RealNameFields = true
	apps.Alipay = append(apps.Alipay, other)
	v := &vendor{t: t, apps: apps.Alipay, clock: newTestClock(t), reg: citizens.Default(),
		http: &http.Client{Timeout: 30 * time.Second}}
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
	person := func(key string) providertest.Person {
		c, ok := v.reg.ByKey(key)
		if !ok {
			t.Fatalf("no citizen %s", key)
		}
		return providertest.Person{Name: c.Name, IDNumber: c.IDNumber, Phone: c.Phone}
	}
	v.people = providertest.People{Match: person("c001"), Mismatch: person("c035"), FaceFail: person("c031")}
	return v
}

// config is a valid configuration for app i.
func (v *vendor) config(i int) json.RawMessage {
	return v.configWith(i, nil)
}

func (v *vendor) configWith(i int, change func(map[string]string)) json.RawMessage {
	m := map[string]string{
		"app_id":            v.apps[i].AppID,
		"app_private_key":   v.apps[i].AppPrivateKeyPEM,
		"alipay_public_key": v.sb.AlipayPublicKeyPEM(),
		"handle_key":        v.handleKey,
		"gateway_url":       v.url + "/openapi.alipay.com/gateway.do",
		"openauth_base":     v.url + "/openauth.alipay.com",
		"http_timeout":      "10s",
	}
	if change != nil {
		change(m)
	}
	b, _ := json.Marshal(m)
	return b
}

// provider returns an in-process provider on the test clock, configured
// for app i.
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

// slow makes every Alipay endpoint hold its answer 10 s: longer than the
// kit's 5 s bound, and short, because the sandbox sleeps before it reads
// the request body and so does not notice a client that gave up; the
// server's Close waits for those sleeps.
func (v *vendor) slow() func() {
	v.t.Helper()
	if err := v.post("/sandbox/faults", map[string]any{"vendor": "alipay", "latency": "10s"}, nil); err != nil {
		v.t.Fatal(err)
	}
	return func() {
		req, _ := http.NewRequest(http.MethodDelete, v.url+"/sandbox/faults?vendor=alipay", nil)
		if resp, err := v.http.Do(req); err == nil {
			resp.Body.Close()
		}
	}
}

// inject makes the next Alipay answer carry code.
func (v *vendor) inject(code string) {
	v.t.Helper()
	if err := v.post("/sandbox/faults", map[string]any{"vendor": "alipay", "path": "/gateway.do", "code": code, "count": 1}, nil); err != nil {
		v.t.Fatal(err)
	}
}

func (v *vendor) post(path string, in, out any) error {
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
	if out != nil {
		return json.Unmarshal(body, out)
	}
	return nil
}

type actAnswer struct {
	Item struct {
		ID    string `json:"id"`
		State string `json:"state"`
	} `json:"item"`
	Outcome struct {
		Redirect string `json:"redirect"`
	} `json:"outcome"`
}

// act performs an action on the virtual phone as the citizen with idNumber.
func (v *vendor) act(ctx context.Context, qr, action, idNumber string) (actAnswer, error) {
	var a actAnswer
	b, _ := json.Marshal(map[string]string{"qr": qr, "action": action, "citizen": idNumber})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, v.url+"/phone/api/act", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	resp, err := v.http.Do(req)
	if err != nil {
		return a, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return a, fmt.Errorf("phone %s: HTTP %d: %s", action, resp.StatusCode, body)
	}
	return a, json.Unmarshal(body, &a)
}

// redirectQuery returns the query of the phone's redirect.
func redirectQuery(a actAnswer) (map[string]string, error) {
	u, err := url.Parse(a.Outcome.Redirect)
	if err != nil || a.Outcome.Redirect == "" {
		return nil, fmt.Errorf("phone gave no redirect: %+v", a)
	}
	q := map[string]string{}
	for k, vs := range u.Query() {
		q[k] = vs[0]
	}
	return q, nil
}

// The phone, as providertest sees it.

func (v *vendor) Scan(ctx context.Context, qr string) error {
	_, err := v.act(ctx, qr, "scan", v.people.Match.IDNumber)
	return err
}

func (v *vendor) Approve(ctx context.Context, qr string) (map[string]string, error) {
	a, err := v.act(ctx, qr, "confirm", v.people.Match.IDNumber)
	if err != nil {
		return nil, err
	}
	return redirectQuery(a)
}

func (v *vendor) Cancel(ctx context.Context, qr string) (map[string]string, error) {
	a, err := v.act(ctx, qr, "cancel", v.people.Match.IDNumber)
	if err != nil {
		return nil, err
	}
	return redirectQuery(a)
}

// Expire moves the clock past the QR session's five minutes.
func (v *vendor) Expire(context.Context, string) error {
	v.clock.Advance(scanTTL + time.Minute)
	return nil
}

// Face opens the certify URL on the phone, reads whose check it is from
// the phone's screen (支付宝人脸认证：张*（…）) and passes it as that person.
func (v *vendor) Face(ctx context.Context, qr string) error {
	if err := v.open(ctx, qr); err != nil {
		return err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, v.url+"/phone/api/pending", nil)
	resp, err := v.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var pending struct {
		Items []struct {
			Title     string `json:"title"`
			QRContent string `json:"qr_content"`
		} `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&pending); err != nil {
		return err
	}
	for _, it := range pending.Items {
		if it.QRContent != qr {
			continue
		}
		for _, p := range []providertest.Person{v.people.Match, v.people.FaceFail, v.people.Mismatch} {
			if strings.Contains(it.Title, "："+maskName(p.Name)+"（") {
				_, err := v.act(ctx, qr, "pass", p.IDNumber)
				return err
			}
		}
		return fmt.Errorf("face item %q is for nobody the test knows", it.Title)
	}
	return errors.New("the certify URL is not pending on the phone")
}

// open opens QR content on the phone, as scanning it does.
func (v *vendor) open(ctx context.Context, qr string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, v.url+"/phone/?qr="+url.QueryEscape(qr), nil)
	resp, err := v.http.Do(req)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

func (v *vendor) SMSCode(context.Context, string) (string, error) {
	return "", errors.New("alipay sends no SMS")
}

func maskName(name string) string {
	r := []rune(name)
	return string(r[0]) + strings.Repeat("*", len(r)-1)
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
		BadConfig:   json.RawMessage(`{"app_id":"app","app_private_key":"nope","gateway_url":"ftp://x","handle_key":"c2hvcnQ=","colour":"blue"}`),
		BadFields:   []string{"app_id", "app_private_key", "alipay_public_key", "gateway_url", "handle_key", "colour"},
		Phone:       v,
		People:      v.people,
		Slow:        v.slow,
	})
}

var _ providertest.Phone = (*vendor)(nil)
