package pluginhost

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Spec declares one provider plugin, as the gateway's configuration
// does.
type Spec struct {
	// Name is how the gateway refers to the provider; it labels logs and
	// metrics.
	Name string
	// Builtin names a provider compiled into the gateway. The host runs
	// its own executable as "<exe> plugin <Builtin>", checked against the
	// SHA-256 it computed at boot. The plugin must report Builtin as its
	// name. Mutually exclusive with Path.
	Builtin string
	// Path is the executable of an external plugin.
	Path string
	// Args are passed to the plugin after the builtin's own arguments.
	Args []string
	// Env is the plugin's whole environment, as KEY=VALUE. The gateway's
	// own environment is never passed on.
	Env []string
	// SHA256 is the hex SHA-256 of the executable at Path (sha256sum);
	// required for an external plugin. A binary that does not match is
	// never run and its provider is disabled.
	SHA256 string
	// Version is the version the plugin must report in Info; required for
	// an external plugin, optional for a builtin. A mismatch disables the
	// provider.
	Version string
	// Config is handed to the plugin's Configure; empty means {}.
	Config json.RawMessage
	// StartTimeout bounds exec to handshake (default 10 s, at most 15 s).
	StartTimeout time.Duration
	// CallTimeout is the deadline of a call whose context has none, and
	// of Configure (default 10 s).
	CallTimeout time.Duration
}

// Options are the host's dependencies and tunables. Zero values take the
// defaults documented on each field.
type Options struct {
	// Logger receives the host's records and the plugins' own log lines,
	// each tagged with provider. Default: discard.
	Logger *slog.Logger
	// Registerer receives the shiming_plugin_* metrics. Default: a private
	// registry nobody scrapes.
	Registerer prometheus.Registerer
	// SocketDir is where the host makes its private (0700) directory for
	// the plugins' unix sockets. It must be short: a socket path has at
	// most 107 bytes. Default: os.TempDir().
	SocketDir string
	// Executable is the gateway's own executable, run for builtins.
	// Default: os.Executable().
	Executable string
	// Now is the clock of the crash-loop window and of status times.
	// Default: time.Now.
	Now func() time.Time

	// HealthInterval is the time between health probes (default 10 s);
	// HealthTimeout the deadline of each (default 2 s); HealthFailures the
	// number of failed probes in a row that restarts the plugin (default 3).
	HealthInterval time.Duration
	HealthTimeout  time.Duration
	HealthFailures int
	// BackoffMin and BackoffMax bound the delay before a restart, which
	// doubles with each crash in the window, ±20 % (defaults 1 s, 60 s).
	BackoffMin time.Duration
	BackoffMax time.Duration
	// CrashLimit crashes within CrashWindow disable a provider until the
	// gateway restarts (defaults 5 and 10 min).
	CrashLimit  int
	CrashWindow time.Duration
	// RestartWait is the longest a call waits for a restarting provider,
	// further bounded by the call's deadline (default 3 s).
	RestartWait time.Duration
	// KillTimeout bounds go-plugin's Kill before the host sends SIGKILL to
	// the plugin's process group (default 5 s).
	KillTimeout time.Duration
}

// Defaults.
const (
	DefaultStartTimeout = 10 * time.Second
	MaxStartTimeout     = 15 * time.Second
	DefaultCallTimeout  = 10 * time.Second
)

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.HealthInterval, 10*time.Second)
	def(&o.HealthTimeout, 2*time.Second)
	def(&o.BackoffMin, time.Second)
	def(&o.BackoffMax, time.Minute)
	def(&o.CrashWindow, 10*time.Minute)
	def(&o.RestartWait, 3*time.Second)
	def(&o.KillTimeout, 5*time.Second)
	if o.HealthFailures <= 0 {
		o.HealthFailures = 3
	}
	if o.CrashLimit <= 0 {
		o.CrashLimit = 5
	}
	if o.BackoffMax < o.BackoffMin {
		o.BackoffMax = o.BackoffMin
	}
}

// validate reports every problem of specs at once and fills defaults.
func validate(specs []Spec) ([]Spec, error) {
	var errs []error
	bad := func(i int, name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("pluginhost: provider %d (%q): %s", i, name, fmt.Sprintf(format, args...)))
	}
	seen := map[string]bool{}
	out := make([]Spec, len(specs))
	for i, s := range specs {
		switch {
		case s.Name == "":
			bad(i, s.Name, "name is empty")
		case seen[s.Name]:
			bad(i, s.Name, "name is used twice")
		}
		seen[s.Name] = true
		switch {
		case s.Builtin != "" && s.Path != "":
			bad(i, s.Name, "set builtin or path, not both")
		case s.Builtin == "" && s.Path == "":
			bad(i, s.Name, "set builtin or path")
		case s.Path != "":
			if b, err := hex.DecodeString(s.SHA256); err != nil || len(b) != 32 {
				bad(i, s.Name, "sha256 must be 64 hex digits (sha256sum of the plugin binary)")
			}
			if s.Version == "" {
				bad(i, s.Name, "version is required for an external plugin")
			}
		}
		if len(s.Config) == 0 {
			s.Config = json.RawMessage("{}")
		} else if !json.Valid(s.Config) {
			bad(i, s.Name, "config is not valid JSON")
		}
		switch {
		case s.StartTimeout < 0 || s.StartTimeout > MaxStartTimeout:
			bad(i, s.Name, "start timeout must be between 0 (default %s) and %s", DefaultStartTimeout, MaxStartTimeout)
		case s.StartTimeout == 0:
			s.StartTimeout = DefaultStartTimeout
		}
		switch {
		case s.CallTimeout < 0:
			bad(i, s.Name, "call timeout must not be negative")
		case s.CallTimeout == 0:
			s.CallTimeout = DefaultCallTimeout
		}
		out[i] = s
	}
	return out, errors.Join(errs...)
}
