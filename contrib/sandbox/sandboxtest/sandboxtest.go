// Package sandboxtest runs the sandbox for the tests of a provider plugin:
// behind an httptest server, on a clock the test moves, with generated
// credentials, and with a providertest.Phone that acts through the
// virtual phone's JSON API as a person would on a real phone.
//
//	func TestMain(m *testing.M) {
//		sandboxtest.Main(m, "alipay", func(now func() time.Time) sdk.Provider { return newProvider(now) })
//	}
//
//	func TestConformance(t *testing.T) {
//		srv := sandboxtest.Start(t)
//		people := srv.People("c001", "c035", "c031")
//		providertest.Run(t, providertest.Harness{
//			New:         func() sdk.Provider { return newProvider(srv.Clock.Now) },
//			Command:     srv.Command("alipay"),
//			Config:      config(srv, srv.Apps.Alipay[0]),
//			OtherConfig: config(srv, srv.Apps.Alipay[1]),
//			…
//			Phone:       srv.Phone(people),
//			People:      people,
//			Slow:        srv.Slow("alipay"),
//		})
//	}
//
// The kit's over-the-wire run re-runs the test binary (Command), and Main
// then serves the provider on a clock that follows the test's Clock
// through a file.
package sandboxtest

import (
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox"
	"github.com/shiming-id/shiming/contrib/sandbox/alipay"
	"github.com/shiming-id/shiming/contrib/sandbox/citizens"
	"github.com/shiming-id/shiming/contrib/sandbox/ctid"
	"github.com/shiming-id/shiming/contrib/sandbox/fault"
	"github.com/shiming-id/shiming/contrib/sandbox/sms"
	"github.com/shiming-id/shiming/contrib/sandbox/wechat"
	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/providertest"
)

// Names of the second credentials Start adds for each vendor.
const (
	OtherAppName  = "另一个应用"
	OtherOrgName  = "另一个机构"
	OtherSignName = "另一签名"
)

// slowLatency is how long Slow holds every answer: longer than the kit's
// 5 s bound, and short, because a handler that sleeps before reading a
// request body does not notice a client that gave up, and the server's
// Close waits for it.
const slowLatency = 10 * time.Second

// Server is a sandbox serving one test.
type Server struct {
	// Sandbox is the running sandbox: its faults, keys and URLs.
	Sandbox *sandbox.Sandbox
	// URL is the sandbox's base URL, http://127.0.0.1:port.
	URL string
	// Apps are the credentials the sandbox knows: for each vendor, [0] is
	// the demo app of sandbox.GenerateApps and [1] another, for the kit's
	// OtherConfig.
	Apps sandbox.Apps
	// Clock is the sandbox's clock.
	Clock *Clock
	// Citizens are the people the sandbox knows: citizens.Default().
	Citizens *citizens.Registry
	// HTTP is a client for the sandbox's own APIs.
	HTTP *http.Client

	t testing.TB
}

// Start starts a sandbox for t, stopped when t ends. The options change
// its configuration before it starts, e.g. to tune a simulator or mark an
// app: func(c *sandbox.Config) { c.Apps.Alipay[0].RealNameFields = true }.
func Start(t testing.TB, options ...func(*sandbox.Config)) *Server {
	t.Helper()
	apps, err := generateApps()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	s := &Server{
		URL:      "http://" + srv.Listener.Addr().String(),
		Clock:    newClock(filepath.Join(t.TempDir(), "clock")),
		Citizens: citizens.Default(),
		HTTP:     &http.Client{Timeout: 30 * time.Second},
		t:        t,
	}
	cfg := sandbox.Config{
		DataDir:   t.TempDir(),
		PublicURL: s.URL,
		Now:       s.Clock.Now,
		Citizens:  s.Citizens,
		Apps:      apps,
		Logger:    slog.New(slog.DiscardHandler),
	}
	for _, o := range options {
		o(&cfg)
	}
	s.Apps = cfg.Apps
	if s.Sandbox, err = sandbox.New(cfg); err != nil {
		srv.Listener.Close()
		t.Fatal(err)
	}
	srv.Config.Handler = s.Sandbox.Handler()
	srv.Start()
	t.Cleanup(func() {
		s.Sandbox.Close() // answers held long-polls, so that Close does not wait for them
		srv.Close()
	})
	return s
}

// generateApps makes the demo apps and a second set for OtherConfig.
func generateApps() (sandbox.Apps, error) {
	apps, err := sandbox.GenerateApps()
	if err != nil {
		return apps, err
	}
	wx, err := wechat.GenerateApp(OtherAppName)
	if err != nil {
		return apps, err
	}
	ali, err := alipay.GenerateApp(OtherAppName)
	if err != nil {
		return apps, err
	}
	org, err := ctid.GenerateOrg(OtherOrgName)
	if err != nil {
		return apps, err
	}
	key, err := sms.GenerateKey(OtherSignName)
	if err != nil {
		return apps, err
	}
	apps.WeChat = append(apps.WeChat, wx)
	apps.Alipay = append(apps.Alipay, ali)
	apps.CTID = append(apps.CTID, org)
	apps.SMS = append(apps.SMS, key)
	return apps, nil
}

// Person returns the citizen with key (c001 …) as a test person; the
// test fails when there is none.
func (s *Server) Person(key string) providertest.Person {
	s.t.Helper()
	c, ok := s.Citizens.ByKey(key)
	if !ok {
		s.t.Fatalf("sandboxtest: no citizen %s", key)
	}
	return providertest.Person{Name: c.Name, IDNumber: c.IDNumber, Phone: c.Phone}
}

// People returns the kit's people by citizen key: c001 passes
// everything; c035's card name is not the registry's; c031's face does
// not match, c033's liveness check fails (contrib/sandbox/README.md,
// Citizens).
func (s *Server) People(match, mismatch, faceFail string) providertest.People {
	s.t.Helper()
	return providertest.People{Match: s.Person(match), Mismatch: s.Person(mismatch), FaceFail: s.Person(faceFail)}
}

// Slow returns the kit's Harness.Slow for vendor: every answer of the
// vendor's simulator is held 10 s until restored.
func (s *Server) Slow(vendor string) func() (restore func()) {
	return func() func() {
		s.Sandbox.Faults().Add(fault.Rule{Vendor: vendor, Latency: slowLatency})
		return func() { s.Sandbox.Faults().Clear(vendor) }
	}
}

// HandleKey returns a fresh random handle_key, in base64.
func HandleKey(t testing.TB) string {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(k)
}

// Environment of the test binary re-run as a plugin process.
const (
	serveEnv = "SHIMING_TEST_SERVE_PLUGIN"
	clockEnv = "SHIMING_TEST_CLOCK_FILE"
)

// Command returns the kit's Harness.Command: this test binary, re-run as
// the plugin named plugin (see Main), on the sandbox's clock.
// The host starts plugins with go-plugin's environment only, so both
// switches travel in the command's Env.
func (s *Server) Command(plugin string) func() *exec.Cmd {
	return func() *exec.Cmd {
		cmd := exec.Command(os.Args[0])
		cmd.Env = []string{serveEnv + "=" + plugin, clockEnv + "=" + s.Clock.file}
		return cmd
	}
}

// Main is the TestMain of a plugin's tests: in the process Command
// starts for plugin it serves the provider newProvider returns, on the
// test's clock, and exits; in any other it runs the tests.
//
//	func TestMain(m *testing.M) {
//		sandboxtest.Main(m, "acme", func(now func() time.Time) sdk.Provider { return newProvider(now) })
//	}
func Main(m *testing.M, plugin string, newProvider func(now func() time.Time) sdk.Provider) {
	if pluginProcess(plugin) {
		sdk.Serve(newProvider(processClock()))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// pluginProcess reports whether this test binary was started by Command
// to serve plugin.
func pluginProcess(plugin string) bool { return os.Getenv(serveEnv) == plugin }

// processClock returns the clock of a plugin process started by Command:
// the time of the test's Clock, read from the file the Clock writes. In a
// process not started by Command it is time.Now.
func processClock() func() time.Time {
	path := os.Getenv(clockEnv)
	if path == "" {
		return time.Now
	}
	return func() time.Time { return time.Now().Add(readOffset(path)) }
}
