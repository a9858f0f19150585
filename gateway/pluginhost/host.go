// Package pluginhost runs the gateway's provider plugins as supervised
// go-plugin processes and hands the gateway a Provider for each.
package pluginhost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shiming-id/shiming/plugins/sdk"
)

// maxSocketPath is the longest unix socket path Linux accepts (108 bytes
// with the terminating NUL; macOS allows 104).
const maxSocketPath = 103

// Host supervises the plugins of a set of Specs. Start launches them all
// at once without waiting; Provider hands out call handles at any time;
// Shutdown drains calls and stops the processes.
type Host struct {
	opts      Options
	metrics   *metrics
	sups      []*supervisor
	byName    map[string]*Provider
	socketDir string

	mu       sync.RWMutex
	started  bool
	closing  bool
	inflight sync.WaitGroup
	cancel   context.CancelFunc
}

// New checks specs (reporting every problem at once), hashes the
// gateway's own executable if a builtin needs it, makes the private
// socket directory and registers the metrics. It starts nothing.
func New(specs []Spec, opts Options) (*Host, error) {
	opts.setDefaults()
	specs, err := validate(specs)
	if err != nil {
		return nil, err
	}
	h := &Host{opts: opts, byName: make(map[string]*Provider, len(specs))}

	var ownSum []byte
	for _, s := range specs {
		if s.Builtin != "" {
			if opts.Executable == "" {
				if opts.Executable, err = os.Executable(); err != nil {
					return nil, fmt.Errorf("pluginhost: find own executable for builtin plugins: %w", err)
				}
				h.opts.Executable = opts.Executable
			}
			if ownSum, err = fileSHA256(opts.Executable); err != nil {
				return nil, fmt.Errorf("pluginhost: hash own executable: %w", err)
			}
			break
		}
	}

	parent := opts.SocketDir
	if parent == "" {
		parent = os.TempDir()
	}
	dir, err := os.MkdirTemp(parent, "shp")
	if err != nil {
		return nil, fmt.Errorf("pluginhost: make socket directory: %w", err)
	}
	// go-plugin names a socket "plugin" and ten digits.
	if n := len(dir) + len("/p") + len(strconv.Itoa(len(specs))) + len("/plugin0123456789"); n > maxSocketPath {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("pluginhost: socket directory %q is too long for a unix socket path (%d > %d bytes); set a shorter socket dir", parent, n, maxSocketPath)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("pluginhost: socket directory: %w", err)
	}
	h.socketDir = dir

	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	if h.metrics, err = newMetrics(opts.Registerer, names); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}

	for i, s := range specs {
		sup := &supervisor{
			h:         h,
			spec:      s,
			log:       opts.Logger.With("provider", s.Name),
			socketDir: filepath.Join(dir, "p"+strconv.Itoa(i)),
			suspectCh: make(chan struct{}, 1),
			done:      make(chan struct{}),
			state:     StateStarting,
			since:     opts.Now(),
			durations: make(map[string]prometheus.Observer, len(allMethods)),
		}
		for _, m := range allMethods {
			sup.durations[m.name] = h.metrics.duration.WithLabelValues(s.Name, m.name)
		}
		sup.cur.Store(&snapshot{state: StateStarting, changed: make(chan struct{})})
		if err := os.Mkdir(sup.socketDir, 0o700); err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("pluginhost: socket directory: %w", err)
		}
		if s.Builtin != "" {
			sup.path = opts.Executable
			sup.args = append([]string{"plugin", s.Builtin}, s.Args...)
			sup.checksum = ownSum
		} else {
			if sup.path, err = filepath.Abs(s.Path); err != nil {
				_ = os.RemoveAll(dir)
				return nil, fmt.Errorf("pluginhost: provider %q: %w", s.Name, err)
			}
			sup.args = s.Args
			sup.checksum, _ = hex.DecodeString(s.SHA256)
		}
		h.sups = append(h.sups, sup)
		h.byName[s.Name] = &Provider{h: h, sup: sup}
	}
	return h, nil
}

func fileSHA256(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err != nil {
		return nil, err
	}
	return sum.Sum(nil), nil
}

// Start launches every plugin concurrently and returns at once; each
// provider becomes callable when its plugin is configured. Calling Start
// twice, or after Shutdown, does nothing.
func (h *Host) Start() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.started || h.closing {
		return
	}
	h.started = true
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	for _, s := range h.sups {
		go s.run(ctx)
	}
}

// Provider returns the handle for the named provider.
func (h *Host) Provider(name string) (*Provider, error) {
	p, ok := h.byName[name]
	if !ok {
		return nil, fmt.Errorf("pluginhost: no provider named %q", name)
	}
	return p, nil
}

// ProviderStatus is a provider's state for /readyz and operators.
type ProviderStatus struct {
	Name  string
	State State
	// Reason says why the provider is degraded, backing off or disabled.
	Reason string
	// Since is when the provider entered State.
	Since time.Time
	// Info is what the plugin last reported; zero before its first start.
	Info     sdk.Info
	PID      int
	Restarts int
}

// Status reports every provider, in the order of the specs.
func (h *Host) Status() []ProviderStatus {
	out := make([]ProviderStatus, len(h.sups))
	for i, s := range h.sups {
		s.mu.Lock()
		out[i] = ProviderStatus{
			Name:     s.spec.Name,
			State:    s.state,
			Reason:   s.reason,
			Since:    s.since,
			Info:     s.info,
			Restarts: s.restarts,
		}
		if s.inst != nil {
			out[i].PID = s.inst.pid
		}
		s.mu.Unlock()
	}
	return out
}

// Ready is a readiness check for the ops listener: nil when every
// provider is healthy or degraded (its plugin serves calls), otherwise an
// error naming each provider that does not, with its state and reason.
func (h *Host) Ready(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var bad []string
	for _, st := range h.Status() {
		if st.State.serving() {
			continue
		}
		msg := st.Name + " " + st.State.String()
		if st.Reason != "" {
			msg += " (" + st.Reason + ")"
		}
		bad = append(bad, msg)
	}
	if len(bad) > 0 {
		return errors.New("pluginhost: providers not serving: " + strings.Join(bad, "; "))
	}
	return nil
}

// enter registers a call; it fails once Shutdown has begun.
func (h *Host) enter() bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.closing {
		return false
	}
	h.inflight.Add(1)
	return true
}

// Shutdown refuses new calls, waits for calls in flight (until ctx ends),
// stops every plugin (go-plugin's Kill bounded by KillTimeout, then
// SIGKILL to its process group) and removes the socket directory. It
// returns ctx's error if ctx ended first; the plugins are stopped anyway.
func (h *Host) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	already := h.closing
	h.closing = true
	cancel := h.cancel
	h.mu.Unlock()
	if already {
		return nil
	}

	var errs []error
	drained := make(chan struct{})
	go func() {
		h.inflight.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-ctx.Done():
		h.opts.Logger.Warn("plugin calls still in flight at shutdown deadline")
		errs = append(errs, fmt.Errorf("pluginhost: drain calls: %w", ctx.Err()))
	}

	if cancel != nil {
		cancel()
		stopped := make(chan struct{})
		go func() {
			for _, s := range h.sups {
				<-s.done
			}
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("pluginhost: stop plugins: %w", ctx.Err()))
		}
	}
	for _, s := range h.sups {
		s.set(StateStopped, "")
	}
	if err := os.RemoveAll(h.socketDir); err != nil {
		errs = append(errs, fmt.Errorf("pluginhost: remove socket directory: %w", err))
	}
	return errors.Join(errs...)
}
