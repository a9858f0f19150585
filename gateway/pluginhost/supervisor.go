package pluginhost

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/shiming-id/shiming/plugins/sdk"
)

// State is where a provider's plugin stands.
type State int

const (
	StateStarting    State = iota + 1 // the process is being started (exec, checksum, handshake)
	StateConfiguring                  // Info is checked and Configure called
	StateHealthy                      // serving calls
	StateDegraded                     // serving calls, but the plugin reports trouble or a probe failed
	StateBackoff                      // waiting to start again after a crash
	StateDisabled                     // not started again until the gateway restarts
	StateStopped                      // the host shut down
)

func (s State) String() string {
	switch s {
	case StateStarting:
		return "starting"
	case StateConfiguring:
		return "configuring"
	case StateHealthy:
		return "healthy"
	case StateDegraded:
		return "degraded"
	case StateBackoff:
		return "backoff"
	case StateDisabled:
		return "disabled"
	case StateStopped:
		return "stopped"
	}
	return "unknown"
}

// serving reports whether calls go through in this state.
func (s State) serving() bool { return s == StateHealthy || s == StateDegraded }

// instance is one plugin process and its connection.
type instance struct {
	pc     *plugin.Client
	client *sdk.Client
	info   sdk.Info
	pid    int
	// cancel kills the process (exec's context) if it is still around.
	cancel context.CancelFunc
}

// permanent marks a start failure that a restart cannot cure.
type permanent struct{ err error }

func (p *permanent) Error() string { return p.err.Error() }
func (p *permanent) Unwrap() error { return p.err }

// supervisor runs one provider's plugin: starts it, watches it, restarts
// it with backoff, and disables it after a crash loop.
type supervisor struct {
	h         *Host
	spec      Spec
	log       *slog.Logger
	path      string
	args      []string
	checksum  []byte
	socketDir string

	suspectCh chan struct{}
	done      chan struct{}

	// durations holds the call-duration observer of every method.
	durations map[string]prometheus.Observer

	mu       sync.Mutex
	state    State
	reason   string
	since    time.Time
	inst     *instance
	info     sdk.Info
	restarts int
	// cur is what calls read, without the lock: a copy of state, reason
	// and inst, replaced (and its changed channel closed) on every change.
	cur atomic.Pointer[snapshot]

	crashes []time.Time // only the run goroutine touches it
}

// snapshot is the supervisor's state as calls see it. changed is closed
// when a newer snapshot replaces it.
type snapshot struct {
	state   State
	reason  string
	inst    *instance
	changed chan struct{}
}

func (s *supervisor) set(st State, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setLocked(st, reason)
}

// setLocked moves to st and publishes the state, with s.inst, to calls.
func (s *supervisor) setLocked(st State, reason string) {
	old := s.cur.Load()
	if old != nil && old.state == st && old.reason == reason && old.inst == s.inst {
		return
	}
	if s.state != st {
		s.since = s.h.opts.Now()
	}
	s.state, s.reason = st, reason
	up := 0.0
	if st.serving() {
		up = 1
	}
	s.h.metrics.up.WithLabelValues(s.spec.Name).Set(up)
	if st == StateDisabled {
		s.h.metrics.disabled.WithLabelValues(s.spec.Name).Set(1)
	}
	s.cur.Store(&snapshot{state: st, reason: reason, inst: s.inst, changed: make(chan struct{})})
	if old != nil {
		close(old.changed)
	}
}

// observe records a call's duration and, if it failed, its kind.
func (s *supervisor) observe(m method, start time.Time, err error) {
	s.durations[m.name].Observe(time.Since(start).Seconds())
	if err != nil {
		s.h.metrics.errors.WithLabelValues(s.spec.Name, m.name, sdk.KindOf(err).String()).Inc()
	}
}

// suspect asks the watcher to probe the plugin now: a call saw the
// connection fail.
func (s *supervisor) suspect() {
	select {
	case s.suspectCh <- struct{}{}:
	default:
	}
}

// await returns a serving instance other than not, waiting up to wait
// (and the context) while the plugin starts or restarts.
func (s *supervisor) await(ctx context.Context, wait time.Duration, not *instance) (*instance, error) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		cur := s.cur.Load()
		st, reason, inst := cur.state, cur.reason, cur.inst
		switch {
		case st.serving() && inst != nil && inst != not:
			return inst, nil
		case st == StateDisabled:
			return nil, sdk.E(sdk.VendorUnavailable, "provider "+s.spec.Name+" is disabled: "+reason)
		case st == StateStopped:
			return nil, sdk.E(sdk.VendorUnavailable, "plugin host is stopped")
		}
		select {
		case <-cur.changed:
		case <-timer.C:
			return nil, sdk.E(sdk.VendorUnavailable, fmt.Sprintf("provider %s did not become ready within %s (state %s)", s.spec.Name, wait, st))
		case <-ctx.Done():
			return nil, ctxError(ctx)
		}
	}
}

// ctxError classifies the end of a caller's context the way sdk.Client
// does: a deadline is VendorUnavailable, a cancellation Cancelled.
func ctxError(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &sdk.Error{Kind: sdk.VendorUnavailable, Message: "deadline exceeded", Err: ctx.Err()}
	}
	return &sdk.Error{Kind: sdk.Cancelled, Message: "call cancelled", Err: ctx.Err()}
}

// run is the supervisor's life: start, watch, restart, until ctx ends or
// the provider is disabled.
func (s *supervisor) run(ctx context.Context) {
	defer close(s.done)
	for attempt := 0; ; attempt++ {
		if ctx.Err() != nil {
			s.set(StateStopped, "")
			return
		}
		if attempt > 0 {
			s.mu.Lock()
			s.restarts++
			s.mu.Unlock()
			s.h.metrics.restarts.WithLabelValues(s.spec.Name).Inc()
		}
		inst, err := s.launch(ctx)
		if err != nil {
			if ctx.Err() != nil {
				s.set(StateStopped, "")
				return
			}
			var p *permanent
			if errors.As(err, &p) {
				s.log.Error("provider disabled", "reason", err.Error())
				s.set(StateDisabled, err.Error())
				return
			}
			s.log.Error("plugin failed to start", "error", err.Error())
			if !s.crashed(ctx, err.Error()) {
				return
			}
			continue
		}
		s.mu.Lock()
		s.inst, s.info = inst, inst.info
		s.setLocked(StateHealthy, "")
		s.mu.Unlock()
		s.log.Info("plugin ready", "pid", inst.pid, "version", inst.info.Version, "capabilities", capNames(inst.info))

		reason := s.watch(ctx, inst)

		// Calls stop using the instance before it is killed.
		s.mu.Lock()
		s.inst = nil
		if ctx.Err() != nil {
			s.setLocked(StateStopped, "")
		} else {
			s.setLocked(StateBackoff, reason)
		}
		s.mu.Unlock()
		s.kill(inst)
		if ctx.Err() != nil {
			return
		}
		s.log.Error("plugin crashed; restarting", "pid", inst.pid, "reason", reason)
		if !s.crashed(ctx, reason) {
			return
		}
	}
}

// crashed records a crash, trips the breaker or waits out the backoff.
// It reports whether to start again.
func (s *supervisor) crashed(ctx context.Context, reason string) bool {
	o := s.h.opts
	now := o.Now()
	kept := s.crashes[:0]
	for _, t := range s.crashes {
		if now.Sub(t) < o.CrashWindow {
			kept = append(kept, t)
		}
	}
	s.crashes = append(kept, now)
	n := len(s.crashes)
	if n >= o.CrashLimit {
		r := fmt.Sprintf("crash loop: %d crashes within %s; last: %s", n, o.CrashWindow, reason)
		s.log.Error("provider disabled", "reason", r)
		s.set(StateDisabled, r)
		return false
	}
	delay := o.BackoffMin << (n - 1)
	if delay > o.BackoffMax || delay <= 0 {
		delay = o.BackoffMax
	}
	delay = time.Duration(float64(delay) * (0.8 + 0.4*rand.Float64()))
	s.set(StateBackoff, reason)
	s.log.Info("waiting before restart", "delay", delay.String(), "crashes_in_window", n)
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		s.set(StateStopped, "")
		return false
	}
}

// launch starts a plugin process, checks what it reports and configures
// it.
func (s *supervisor) launch(ctx context.Context) (*instance, error) {
	s.set(StateStarting, "")
	s.clearSocketDir()

	ictx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ictx, s.path, s.args...)
	cmd.Env = append(append([]string(nil), s.spec.Env...), plugin.EnvUnixSocketDir+"="+s.socketDir)
	setProcessGroup(cmd)
	cmd.Cancel = func() error {
		_ = killGroup(cmd.Process.Pid)
		return cmd.Process.Kill()
	}
	pc := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake(),
		VersionedPlugins: sdk.VersionedPlugins(),
		Cmd:              cmd,
		SecureConfig:     &plugin.SecureConfig{Checksum: s.checksum, Hash: sha256.New()},
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		StartTimeout:     s.spec.StartTimeout,
		Logger:           newHclog(s.log),
		UnixSocketConfig: &plugin.UnixSocketConfig{TempDir: s.socketDir},
		Managed:          false,
		GRPCDialOptions: []grpc.DialOption{
			grpc.WithDefaultCallOptions(
				grpc.MaxCallRecvMsgSize(sdk.DefaultMaxMessageSize),
				grpc.MaxCallSendMsgSize(sdk.DefaultMaxMessageSize),
			),
		},
	})
	inst := &instance{pc: pc, cancel: cancel}

	// A shutdown during the start kills the process, which ends the
	// handshake wait at once.
	started := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			cancel()
		case <-started:
		}
	}()
	proto, err := pc.Client()
	close(started)
	if cmd.Process != nil {
		inst.pid = cmd.Process.Pid
	}
	if err != nil {
		s.kill(inst)
		switch {
		case errors.Is(err, plugin.ErrChecksumsDoNotMatch):
			return nil, &permanent{fmt.Errorf("binary %s does not match its declared sha256; refusing to run it", s.path)}
		case strings.Contains(err.Error(), "Unrecognized remote plugin message"):
			return nil, fmt.Errorf("the plugin wrote to standard output before the go-plugin handshake (a plugin must never write to standard output): %w", err)
		}
		return nil, fmt.Errorf("start: %w", err)
	}
	raw, err := proto.Dispense(sdk.PluginName)
	if err != nil {
		s.kill(inst)
		return nil, fmt.Errorf("dispense: %w", err)
	}
	inst.client = raw.(*sdk.Client)

	s.set(StateConfiguring, "")
	if err := s.configure(ctx, inst); err != nil {
		s.kill(inst)
		return nil, err
	}
	return inst, nil
}

// configure checks Info against the spec and hands over the
// configuration.
func (s *supervisor) configure(ctx context.Context, inst *instance) error {
	o := s.h.opts
	start := time.Now()
	ictx, cancel := context.WithTimeout(ctx, o.HealthTimeout)
	info, err := inst.client.Info(ictx)
	cancel()
	s.observe(mInfo, start, err)
	if err != nil {
		return fmt.Errorf("info: %w", err)
	}
	switch {
	case info.ProtocolVersion != sdk.ProtocolVersion:
		return &permanent{fmt.Errorf("plugin speaks protocol %d, the host %d", info.ProtocolVersion, sdk.ProtocolVersion)}
	case s.spec.Builtin != "" && info.Name != s.spec.Builtin:
		return &permanent{fmt.Errorf("builtin %q reports name %q", s.spec.Builtin, info.Name)}
	case s.spec.Version != "" && info.Version != s.spec.Version:
		return &permanent{fmt.Errorf("version mismatch: plugin reports %q, configuration expects %q", info.Version, s.spec.Version)}
	}
	inst.info = info

	start = time.Now()
	cctx, cancel := context.WithTimeout(ctx, s.spec.CallTimeout)
	err = inst.client.Configure(cctx, s.spec.Config)
	cancel()
	s.observe(mConfigure, start, err)
	switch {
	case err == nil:
		return nil
	case sdk.KindOf(err) == sdk.InvalidConfig:
		var e *sdk.Error
		errors.As(err, &e)
		return &permanent{fmt.Errorf("invalid configuration (fields: %s): %w", strings.Join(e.Fields, ", "), err)}
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("configure did not answer within %s: %w", s.spec.CallTimeout, err)
	}
	return fmt.Errorf("configure: %w", err)
}

// watch returns when the plugin must be restarted, or ctx ends.
func (s *supervisor) watch(ctx context.Context, inst *instance) string {
	o := s.h.opts
	t := time.NewTicker(o.HealthInterval)
	defer t.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return "shutdown"
		case <-inst.client.Done():
			return "plugin process exited"
		case <-s.suspectCh:
		case <-t.C:
		}
		start := time.Now()
		hctx, cancel := context.WithTimeout(ctx, o.HealthTimeout)
		h, err := inst.client.Health(hctx)
		cancel()
		if ctx.Err() != nil {
			return "shutdown"
		}
		s.observe(mHealth, start, err)
		if err != nil {
			if inst.pc.Exited() {
				return "plugin process exited"
			}
			if sdk.IsTransport(hctx, err) {
				return "connection to the plugin failed: " + err.Error()
			}
			failures++
			s.log.Warn("health probe failed", "failures", failures, "error", err.Error())
			if failures >= o.HealthFailures {
				return fmt.Sprintf("%d health probes failed in a row; last: %v", failures, err)
			}
			s.set(StateDegraded, "health probe failed: "+err.Error())
			continue
		}
		failures = 0
		switch h.Status {
		case sdk.Serving:
			s.set(StateHealthy, "")
		default:
			msg := h.Message
			if msg == "" {
				msg = "plugin reports it cannot serve"
			}
			s.set(StateDegraded, msg)
		}
	}
}

// kill stops an instance: go-plugin's Kill (which asks the plugin to
// stop, then kills it) bounded by KillTimeout, then SIGKILL to the
// plugin's process group for anything left.
func (s *supervisor) kill(inst *instance) {
	done := make(chan struct{})
	go func() {
		inst.pc.Kill()
		close(done)
	}()
	t := time.NewTimer(s.h.opts.KillTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.log.Warn("plugin did not stop in time; killing its process group", "pid", inst.pid)
	}
	if err := killGroup(inst.pid); err != nil {
		s.log.Warn("kill plugin process group", "pid", inst.pid, "error", err.Error())
	}
	inst.cancel()
}

// clearSocketDir removes sockets a killed plugin left behind.
func (s *supervisor) clearSocketDir() {
	entries, err := os.ReadDir(s.socketDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		_ = os.Remove(filepath.Join(s.socketDir, e.Name()))
	}
}

func capNames(info sdk.Info) []string {
	names := make([]string, len(info.Capabilities))
	for i, c := range info.Capabilities {
		names[i] = c.String()
	}
	return names
}
