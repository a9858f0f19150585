package pluginhost_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/shiming-id/shiming/gateway/pluginhost"
	"github.com/shiming-id/shiming/plugins/sdk"
)

// gatewayEnv makes the test binary act as a gateway running a host, for
// the test that kills it.
const gatewayEnv = "PLUGINHOST_TEST_GATEWAY"

func TestMain(m *testing.M) {
	if len(os.Args) >= 3 && os.Args[1] == "plugin" {
		servePlugin(os.Args[2])
		os.Exit(0)
	}
	if os.Getenv(gatewayEnv) != "" {
		runGateway()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runGateway starts two builtin plugins, prints their pids as a JSON line
// once both serve, and waits to be killed.
func runGateway() {
	h, err := pluginhost.New([]pluginhost.Spec{{Name: "a", Builtin: "fake"}, {Name: "b", Builtin: "fake"}},
		pluginhost.Options{SocketDir: os.Getenv(gatewayEnv)})
	if err != nil {
		os.Exit(3)
	}
	h.Start()
	deadline := time.Now().Add(60 * time.Second)
	for h.Ready(context.Background()) != nil {
		if time.Now().After(deadline) {
			os.Exit(4)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var pids []int
	for _, st := range h.Status() {
		pids = append(pids, st.PID)
	}
	_ = json.NewEncoder(os.Stdout).Encode(pids)
	select {}
}

// logBuffer collects JSON log records from the host.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// records returns the records for which match is true.
func (l *logBuffer) records(match func(map[string]any) bool) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(l.buf.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && match(m) {
			out = append(out, m)
		}
	}
	return out
}

type testHost struct {
	*pluginhost.Host
	reg  *prometheus.Registry
	logs *logBuffer
}

// fastOptions restart quickly, so the tests do not wait out real backoffs.
func fastOptions() pluginhost.Options {
	return pluginhost.Options{BackoffMin: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond, RestartWait: 20 * time.Second}
}

func newHost(t *testing.T, opts pluginhost.Options, specs ...pluginhost.Spec) *testHost {
	t.Helper()
	th := &testHost{reg: prometheus.NewRegistry(), logs: &logBuffer{}}
	opts.Registerer = th.reg
	opts.Logger = slog.New(slog.NewJSONHandler(io.MultiWriter(th.logs, testWriter{t}), nil))
	if opts.SocketDir == "" {
		opts.SocketDir = os.TempDir()
	}
	h, err := pluginhost.New(specs, opts)
	if err != nil {
		t.Fatal(err)
	}
	th.Host = h
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	h.Start()
	return th
}

// testWriter sends the host's log to the test log, for failures.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (th *testHost) status(t *testing.T, name string) pluginhost.ProviderStatus {
	t.Helper()
	for _, st := range th.Status() {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no provider %q", name)
	return pluginhost.ProviderStatus{}
}

func (th *testHost) provider(t *testing.T, name string) *pluginhost.Provider {
	t.Helper()
	p, err := th.Provider(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitState waits for the provider to reach one of states.
func (th *testHost) waitState(t *testing.T, name string, states ...pluginhost.State) pluginhost.ProviderStatus {
	t.Helper()
	var st pluginhost.ProviderStatus
	eventually(t, 60*time.Second, func() bool {
		st = th.status(t, name)
		for _, s := range states {
			if st.State == s {
				return true
			}
		}
		return false
	}, "provider "+name+" never reached "+states[0].String())
	return st
}

func (th *testHost) metric(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := th.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			return value(m)
		}
	}
	t.Fatalf("no metric %s%v", name, labels)
	return 0
}

func value(m *dto.Metric) float64 {
	switch {
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetHistogram() != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return 0
}

func eventually(t *testing.T, timeout time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether pid is a running (not zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return syscall.Kill(pid, 0) == nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || (s[i+2] != 'Z' && s[i+2] != 'X')
}

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func countCalls(t *testing.T, dir, method string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, method))
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

func countConfig(dir string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"count_dir": dir})
	return b
}

func TestEveryKindThroughTheHost(t *testing.T) {
	th := newHost(t, fastOptions(), pluginhost.Spec{Name: "good", Builtin: "fake"})
	th.waitState(t, "good", pluginhost.StateHealthy)
	p := th.provider(t, "good")
	ctx := callCtx(t)
	for _, k := range sdk.Kinds() {
		_, err := p.CheckIdentity(ctx, k.String(), "x")
		if sdk.KindOf(err) != k || sdk.VendorCodeOf(err) != "v-"+k.String() {
			t.Errorf("%v: got %v", k, err)
		}
		var e *sdk.Error
		if errors.As(err, &e) && (len(e.Fields) != 1 || e.Fields[0] != "f-"+k.String()) {
			t.Errorf("%v: fields %v", k, e.Fields)
		}
		if got := th.metric(t, "shiming_plugin_call_errors_total", map[string]string{"provider": "good", "method": "check_identity", "kind": k.String()}); got != 1 {
			t.Errorf("%v: error counter = %v", k, got)
		}
	}
	if ref, err := p.CheckIdentity(ctx, "张三", "x"); err != nil || ref != "ref-张三" {
		t.Fatalf("check = %q, %v", ref, err)
	}
	st := th.status(t, "good")
	if st.Info.Name != "fake" || st.Info.Version != "1.0.0" || !p.Has(sdk.CapabilityFaceVerification) || st.PID == 0 {
		t.Errorf("status = %+v", st)
	}
	// The plugin's own log line arrives in the host's log with the
	// provider's name.
	if len(th.logs.records(func(m map[string]any) bool {
		return m["msg"] == "fake configured" && m["provider"] == "good"
	})) == 0 {
		t.Error("the plugin's log line is not in the host's log")
	}
}

func TestKillDashNineRestarts(t *testing.T) {
	th := newHost(t, fastOptions(),
		pluginhost.Spec{Name: "victim", Builtin: "fake"},
		pluginhost.Spec{Name: "bystander", Builtin: "fake"})
	first := th.waitState(t, "victim", pluginhost.StateHealthy)
	th.waitState(t, "bystander", pluginhost.StateHealthy)
	p := th.provider(t, "victim")

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	kinds := map[sdk.Kind]int{}
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := p.PollScan(ctx, "u")
				cancel()
				mu.Lock()
				kinds[sdk.KindOf(err)]++
				mu.Unlock()
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	if err := syscall.Kill(first.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, func() bool {
		st := th.status(t, "victim")
		return st.State == pluginhost.StateHealthy && st.PID != 0 && st.PID != first.PID
	}, "the killed plugin was not restarted")
	close(stop)
	wg.Wait()

	if _, err := p.PollScan(callCtx(t), "after"); err != nil {
		t.Fatalf("call after restart: %v", err)
	}
	if got := th.metric(t, "shiming_plugin_restarts_total", map[string]string{"provider": "victim"}); got < 1 {
		t.Errorf("restarts_total = %v", got)
	}
	if got := th.metric(t, "shiming_plugin_restarts_total", map[string]string{"provider": "bystander"}); got != 0 {
		t.Errorf("bystander restarts_total = %v", got)
	}
	for k, n := range kinds {
		if k != sdk.KindUnknown && k != sdk.VendorUnavailable {
			t.Errorf("%d calls failed with %v during the restart", n, k)
		}
	}
	if kinds[sdk.KindUnknown] == 0 {
		t.Error("no call succeeded")
	}
	if _, err := th.provider(t, "bystander").PollScan(callCtx(t), "b"); err != nil {
		t.Errorf("bystander: %v", err)
	}
}

// copyExe copies the test binary, to stand in for an external plugin.
func copyExe(t *testing.T, dst string) string {
	t.Helper()
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(out, h), src); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestExternalPluginsChecksumAndVersion(t *testing.T) {
	dir := t.TempDir()
	tampered, good := filepath.Join(dir, "tampered"), filepath.Join(dir, "good")
	tamperedSum := copyExe(t, tampered)
	goodSum := copyExe(t, good)
	// Changed after its hash was declared.
	f, err := os.OpenFile(tampered, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write([]byte("x"))
	_ = f.Close()

	args := []string{"plugin", "fake"}
	th := newHost(t, fastOptions(),
		pluginhost.Spec{Name: "tampered", Path: tampered, Args: args, SHA256: tamperedSum, Version: "1.0.0"},
		pluginhost.Spec{Name: "good", Path: good, Args: args, SHA256: goodSum, Version: "1.0.0"},
		pluginhost.Spec{Name: "newer", Path: good, Args: args, SHA256: goodSum, Version: "2.0.0"},
		pluginhost.Spec{Name: "badconf", Path: good, Args: args, SHA256: goodSum, Version: "1.0.0", Config: json.RawMessage(`{"count_dir":"bad"}`)},
	)
	cases := []struct{ name, reason string }{
		{"tampered", "does not match its declared sha256"},
		{"newer", `version mismatch: plugin reports "1.0.0", configuration expects "2.0.0"`},
		{"badconf", "invalid configuration (fields: count_dir)"},
	}
	for _, tc := range cases {
		st := th.waitState(t, tc.name, pluginhost.StateDisabled)
		if !strings.Contains(st.Reason, tc.reason) {
			t.Errorf("%s: reason %q lacks %q", tc.name, st.Reason, tc.reason)
		}
		if th.metric(t, "shiming_plugin_disabled", map[string]string{"provider": tc.name}) != 1 {
			t.Errorf("%s: disabled gauge not set", tc.name)
		}
		if len(th.logs.records(func(m map[string]any) bool {
			return m["msg"] == "provider disabled" && m["provider"] == tc.name && strings.Contains(m["reason"].(string), tc.reason)
		})) != 1 {
			t.Errorf("%s: no single clear log line", tc.name)
		}
		_, err := th.provider(t, tc.name).PollScan(callCtx(t), "u")
		if sdk.KindOf(err) != sdk.VendorUnavailable {
			t.Errorf("%s: call = %v", tc.name, err)
		}
	}
	th.waitState(t, "good", pluginhost.StateHealthy)
	if _, err := th.provider(t, "good").PollScan(callCtx(t), "u"); err != nil {
		t.Errorf("good provider: %v", err)
	}
	if th.metric(t, "shiming_plugin_disabled", map[string]string{"provider": "good"}) != 0 {
		t.Error("good provider marked disabled")
	}
	err = th.Ready(t.Context())
	if err == nil || !strings.Contains(err.Error(), "tampered disabled") || strings.Contains(err.Error(), "good ") {
		t.Errorf("Ready = %v", err)
	}
}

func TestGatewaySIGKILLLeavesNoPlugins(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), gatewayEnv+"="+t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var pids []int
	if err := json.NewDecoder(out).Decode(&pids); err != nil {
		t.Fatalf("reading plugin pids: %v", err)
	}
	if len(pids) != 2 || !alive(pids[0]) || !alive(pids[1]) {
		t.Fatalf("pids %v not running", pids)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed := time.Now()
	deadline := killed.Add(5 * time.Second)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				t.Fatalf("plugin %d still running 5 s after the gateway was killed", pid)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Logf("plugins gone %s after the gateway was killed", time.Since(killed).Round(time.Millisecond))
}

func TestMisbehavingPluginsStayContained(t *testing.T) {
	th := newHost(t, fastOptions(),
		pluginhost.Spec{Name: "good", Builtin: "fake"},
		pluginhost.Spec{Name: "printer", Builtin: "fake", Env: []string{modeEnv + "=stdout"}},
		pluginhost.Spec{Name: "hanger", Builtin: "fake", Env: []string{modeEnv + "=hang_configure"}, CallTimeout: 300 * time.Millisecond},
		pluginhost.Spec{Name: "panicker", Builtin: "fake"},
	)
	th.waitState(t, "panicker", pluginhost.StateHealthy)
	_, err := th.provider(t, "panicker").CheckIdentity(callCtx(t), "panic", "x")
	if sdk.KindOf(err) != sdk.Internal {
		t.Fatalf("panicking call = %v", err)
	}
	if _, err := th.provider(t, "panicker").CheckIdentity(callCtx(t), "after", "x"); err != nil {
		t.Fatalf("call after a panic: %v", err)
	}
	th.waitState(t, "printer", pluginhost.StateDisabled)
	th.waitState(t, "hanger", pluginhost.StateDisabled)
	if _, err := th.provider(t, "good").PollScan(callCtx(t), "u"); err != nil {
		t.Fatalf("good provider: %v", err)
	}
	if st := th.status(t, "panicker"); st.State != pluginhost.StateHealthy || st.Restarts != 0 {
		t.Errorf("panicker = %+v", st)
	}

	lines := []struct {
		provider, msg, text string
	}{
		{"printer", "plugin failed to start", "wrote to standard output before the go-plugin handshake"},
		{"hanger", "plugin failed to start", "configure did not answer within 300ms"},
		{"panicker", "panic in provider call", "fake plugin bug"},
	}
	for _, l := range lines {
		recs := th.logs.records(func(m map[string]any) bool {
			if m["provider"] != l.provider || m["msg"] != l.msg {
				return false
			}
			b, _ := json.Marshal(m)
			return strings.Contains(string(b), l.text)
		})
		if len(recs) == 0 {
			t.Errorf("no log line %q for %s mentioning %q", l.msg, l.provider, l.text)
		}
	}
}

func TestCrashLoopBreaker(t *testing.T) {
	th := newHost(t, fastOptions(), pluginhost.Spec{Name: "loop", Builtin: "fake", Env: []string{modeEnv + "=exit_at_start"}})
	st := th.waitState(t, "loop", pluginhost.StateDisabled)
	if !strings.Contains(st.Reason, "crash loop: 5 crashes") {
		t.Errorf("reason = %q", st.Reason)
	}
	if st.Restarts != 4 || th.metric(t, "shiming_plugin_restarts_total", map[string]string{"provider": "loop"}) != 4 {
		t.Errorf("restarts = %d", st.Restarts)
	}
	if th.metric(t, "shiming_plugin_up", map[string]string{"provider": "loop"}) != 0 ||
		th.metric(t, "shiming_plugin_disabled", map[string]string{"provider": "loop"}) != 1 {
		t.Error("metrics do not show the breaker")
	}
	if err := th.Ready(t.Context()); err == nil || !strings.Contains(err.Error(), "loop disabled (crash loop") {
		t.Errorf("Ready = %v", err)
	}
}

func TestCallsDuringRestartFailVendorUnavailable(t *testing.T) {
	opts := fastOptions()
	opts.BackoffMin, opts.BackoffMax = time.Hour, time.Hour
	opts.RestartWait = 200 * time.Millisecond
	th := newHost(t, opts, pluginhost.Spec{Name: "down", Builtin: "fake"})
	st := th.waitState(t, "down", pluginhost.StateHealthy)
	if err := syscall.Kill(st.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	th.waitState(t, "down", pluginhost.StateBackoff)
	p := th.provider(t, "down")

	t.Run("bounded by RestartWait", func(t *testing.T) {
		_, err := p.PollScan(context.Background(), "u")
		if sdk.KindOf(err) != sdk.VendorUnavailable || !strings.Contains(err.Error(), "did not become ready") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("bounded by the deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := p.ExchangeCode(ctx, "u", "c")
		if sdk.KindOf(err) != sdk.VendorUnavailable {
			t.Fatalf("got %v", err)
		}
	})
	if got := th.metric(t, "shiming_plugin_call_errors_total", map[string]string{"provider": "down", "method": "poll_scan", "kind": "vendor_unavailable"}); got != 1 {
		t.Errorf("vendor_unavailable counter = %v", got)
	}
}

func TestOnlyIdempotentCallsAreRetried(t *testing.T) {
	dir := t.TempDir()
	th := newHost(t, fastOptions(),
		pluginhost.Spec{Name: "crashy", Builtin: "fake", Env: []string{modeEnv + "=crash_in_call"}, Config: countConfig(dir)})
	th.waitState(t, "crashy", pluginhost.StateHealthy)
	p := th.provider(t, "crashy")

	_, err := p.ExchangeCode(callCtx(t), "u", "c")
	if sdk.KindOf(err) != sdk.VendorUnavailable {
		t.Fatalf("exchange on a crashing plugin = %v", err)
	}
	eventually(t, 60*time.Second, func() bool {
		st := th.status(t, "crashy")
		return st.State == pluginhost.StateHealthy && st.Restarts == 1
	}, "not restarted after the crash")
	if n := countCalls(t, dir, "exchange_code"); n != 1 {
		t.Errorf("exchange_code reached the plugin %d times, want 1", n)
	}

	st, err := p.PollScan(callCtx(t), "u")
	if err != nil || st.Code != "c-u" {
		t.Fatalf("poll on a crashing plugin = %+v, %v", st, err)
	}
	if n := countCalls(t, dir, "poll_scan"); n != 2 {
		t.Errorf("poll_scan reached the plugin %d times, want 2", n)
	}
}

func TestUndeclaredCapabilityIsNotCalled(t *testing.T) {
	dir := t.TempDir()
	th := newHost(t, fastOptions(), pluginhost.Spec{Name: "scanonly", Builtin: "fake",
		Env: []string{capsEnv + "=scan_login"}, Config: countConfig(dir)})
	th.waitState(t, "scanonly", pluginhost.StateHealthy)
	p := th.provider(t, "scanonly")
	if _, err := p.CheckIdentity(callCtx(t), "张三", "x"); sdk.KindOf(err) != sdk.NotSupported {
		t.Fatalf("undeclared call = %v", err)
	}
	if err := p.VerifyCode(callCtx(t), "t", "13800138000", "login", "1"); sdk.KindOf(err) != sdk.NotSupported {
		t.Fatalf("undeclared call = %v", err)
	}
	notice := sdk.Notice{Kind: sdk.NoticePhoneChanged, Params: map[string]string{"phone": "139****5678"}}
	if err := p.SendNotice(callCtx(t), "13800138000", notice); sdk.KindOf(err) != sdk.NotSupported {
		t.Fatalf("undeclared call = %v", err)
	}
	if n := countCalls(t, dir, "check_identity") + countCalls(t, dir, "verify_code") + countCalls(t, dir, "send_notice"); n != 0 {
		t.Errorf("undeclared calls reached the plugin %d times", n)
	}
	if !p.Has(sdk.CapabilityScanLogin) || p.Has(sdk.CapabilityIdentityCheck) {
		t.Errorf("Has: info = %+v", p.Info())
	}
}

func TestShutdownDrainsAndStops(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	h, err := pluginhost.New([]pluginhost.Spec{{Name: "s", Builtin: "fake", Config: countConfig(dir)}},
		pluginhost.Options{Registerer: reg, SocketDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	h.Start()
	th := &testHost{Host: h, reg: reg}
	st := th.waitState(t, "s", pluginhost.StateHealthy)
	p := th.provider(t, "s")

	slow := make(chan error, 1)
	go func() {
		ref, err := p.CheckIdentity(context.Background(), "slow", "x")
		if err == nil && ref != "slow-ok" {
			err = errors.New("wrong answer " + ref)
		}
		slow <- err
	}()
	eventually(t, 30*time.Second, func() bool { return countCalls(t, dir, "check_identity") == 1 }, "slow call never reached the plugin")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if err := <-slow; err != nil {
		t.Errorf("call in flight at shutdown: %v", err)
	}
	if alive(st.PID) {
		t.Errorf("plugin %d still running after shutdown", st.PID)
	}
	if got := th.status(t, "s"); got.State != pluginhost.StateStopped {
		t.Errorf("state = %v", got.State)
	}
	if _, err := p.PollScan(context.Background(), "u"); sdk.KindOf(err) != sdk.VendorUnavailable {
		t.Errorf("call after shutdown = %v", err)
	}
	if th.metric(t, "shiming_plugin_up", map[string]string{"provider": "s"}) != 0 {
		t.Error("up after shutdown")
	}
}

func TestMetricsPresentFromStart(t *testing.T) {
	reg := prometheus.NewRegistry()
	h, err := pluginhost.New([]pluginhost.Spec{{Name: "wechat", Builtin: "fake"}, {Name: "acme_face", Path: "/nonexistent", SHA256: strings.Repeat("ab", 32), Version: "1"}},
		pluginhost.Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Shutdown(context.Background())
	th := &testHost{Host: h, reg: reg}
	for _, p := range []string{"wechat", "acme_face"} {
		for _, name := range []string{"shiming_plugin_up", "shiming_plugin_restarts_total", "shiming_plugin_disabled"} {
			if v := th.metric(t, name, map[string]string{"provider": p}); v != 0 {
				t.Errorf("%s{provider=%q} = %v", name, p, v)
			}
		}
		if v := th.metric(t, "shiming_plugin_call_duration_seconds", map[string]string{"provider": p, "method": "exchange_code"}); v != 0 {
			t.Errorf("duration count = %v", v)
		}
		if v := th.metric(t, "shiming_plugin_call_errors_total", map[string]string{"provider": p, "method": "poll_scan", "kind": "uuid_invalid"}); v != 0 {
			t.Errorf("errors = %v", v)
		}
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestNewValidatesEverything(t *testing.T) {
	long := t.TempDir() + "/" + strings.Repeat("d", 100)
	if err := os.MkdirAll(long, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := pluginhost.New([]pluginhost.Spec{{Name: "ok", Builtin: "fake"}}, pluginhost.Options{SocketDir: long})
	if err == nil || !strings.Contains(err.Error(), "too long for a unix socket path") {
		t.Errorf("long socket dir: %v", err)
	}

	_, err = pluginhost.New([]pluginhost.Spec{
		{Name: "", Builtin: "fake"},
		{Name: "twice", Builtin: "fake"},
		{Name: "twice", Builtin: "fake"},
		{Name: "both", Builtin: "fake", Path: "/x"},
		{Name: "neither"},
		{Name: "nosum", Path: "/x", Version: "1"},
		{Name: "noversion", Path: "/x", SHA256: strings.Repeat("0", 64)},
		{Name: "badjson", Builtin: "fake", Config: json.RawMessage("{")},
		{Name: "slowstart", Builtin: "fake", StartTimeout: time.Minute},
		{Name: "negative", Builtin: "fake", CallTimeout: -time.Second},
	}, pluginhost.Options{})
	if err == nil {
		t.Fatal("New accepted bad specs")
	}
	for _, want := range []string{"name is empty", "name is used twice", "set builtin or path, not both", "set builtin or path",
		"sha256 must be 64 hex digits", "version is required", "config is not valid JSON", "start timeout must be between", "call timeout must not be negative"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// TestSendNotice checks that a notice reaches a plugin that declares
// phone_notice, once, and that its error keeps its kind and fields.
func TestSendNotice(t *testing.T) {
	dir := t.TempDir()
	th := newHost(t, fastOptions(), pluginhost.Spec{Name: "sms", Builtin: "fake", Config: countConfig(dir)})
	th.waitState(t, "sms", pluginhost.StateHealthy)
	p := th.provider(t, "sms")
	notice := sdk.Notice{Kind: sdk.NoticePhoneChanged, Params: map[string]string{"phone": "139****5678"}}
	if err := p.SendNotice(callCtx(t), "13800138000", notice); err != nil {
		t.Fatalf("SendNotice = %v", err)
	}
	err := p.SendNotice(callCtx(t), "13800138000", sdk.Notice{Kind: "unknown"})
	var e *sdk.Error
	if !errors.As(err, &e) || e.Kind != sdk.InvalidRequest || len(e.Fields) != 1 || e.Fields[0] != "kind" {
		t.Fatalf("SendNotice of an unknown kind = %v", err)
	}
	if n := countCalls(t, dir, "send_notice"); n != 2 {
		t.Errorf("send_notice reached the plugin %d times, want 2", n)
	}
}
