package pluginhost

import (
	"context"
	"io"
	"log"
	"log/slog"

	"github.com/hashicorp/go-hclog"

	"github.com/shiming-id/shiming/plugins/sdk"
)

// hclogAdapter hands go-plugin's records, and through them the plugin's
// own JSON log lines, to slog at Info and above. String values are run
// through sdk.Redact as a second line of defence against a plugin that
// logs personal data.
type hclogAdapter struct {
	l    *slog.Logger
	name string
	args []any
}

func newHclog(l *slog.Logger) hclog.Logger { return &hclogAdapter{l: l} }

func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	if level < hclog.Info {
		return
	}
	sl := slogLevel(level)
	ctx := context.Background()
	if !a.l.Enabled(ctx, sl) {
		return
	}
	all := make([]any, 0, len(a.args)+len(args))
	all = append(all, a.args...)
	for _, v := range args {
		switch x := v.(type) {
		case string:
			v = sdk.Redact(x)
		case error:
			v = sdk.Redact(x.Error())
		}
		all = append(all, v)
	}
	a.l.Log(ctx, sl, sdk.Redact(msg), all...)
}

func (a *hclogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *hclogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *hclogAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *hclogAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *hclogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }

func (a *hclogAdapter) IsTrace() bool { return false }
func (a *hclogAdapter) IsDebug() bool { return false }
func (a *hclogAdapter) IsInfo() bool  { return true }
func (a *hclogAdapter) IsWarn() bool  { return true }
func (a *hclogAdapter) IsError() bool { return true }

func (a *hclogAdapter) ImpliedArgs() []any { return a.args }

func (a *hclogAdapter) With(args ...any) hclog.Logger {
	c := *a
	c.args = append(append([]any(nil), a.args...), args...)
	return &c
}

func (a *hclogAdapter) Name() string { return a.name }

// Named is called by go-plugin for the plugin's stderr (with the
// executable's base name) and for its stdio stream.
func (a *hclogAdapter) Named(name string) hclog.Logger {
	c := *a
	if c.name != "" {
		name = c.name + "." + name
	}
	c.name = name
	c.args = append(append([]any(nil), a.args...), "plugin_logger", name)
	return &c
}

func (a *hclogAdapter) ResetNamed(name string) hclog.Logger {
	c := *a
	c.name = ""
	return c.Named(name)
}

// SetLevel is ignored: the slog handler decides.
func (a *hclogAdapter) SetLevel(hclog.Level) {}

// GetLevel tells go-plugin to skip plugin lines below Info before parsing
// them.
func (a *hclogAdapter) GetLevel() hclog.Level { return hclog.Info }

func (a *hclogAdapter) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return slog.NewLogLogger(a.l.Handler(), slog.LevelInfo)
}

func (a *hclogAdapter) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return a.StandardLogger(nil).Writer()
}

var _ hclog.Logger = (*hclogAdapter)(nil)
