package sdk

import (
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

// LogLevelEnv names the environment variable the host sets to choose the
// plugin's log level: debug, info (the default), warn or error.
const LogLevelEnv = "SHIMING_PLUGIN_LOG_LEVEL"

// stderr is standard error as it was when the program started. go-plugin's
// Serve replaces os.Stderr with a pipe the host discards, so the logger
// keeps the original file. It is never reassigned.
var stderr = os.Stderr

// Logger returns the logger plugin code should use. It writes one JSON
// object per line to standard error, in the shape go-plugin's host reads
// (@level, @message, @timestamp), so each line becomes a record in the
// gateway's own log, tagged with the provider's name. Digit runs shaped
// like ID numbers and mobile numbers are masked as a last line of
// defence; do not rely on it, never log personal data.
func Logger() *slog.Logger {
	return slog.New(NewLogHandler(stderr, levelFromEnv()))
}

func levelFromEnv() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(os.Getenv(LogLevelEnv))); err != nil {
		return slog.LevelInfo
	}
	return l
}

// hclogTime is the timestamp layout go-plugin's host parses.
const hclogTime = "2006-01-02T15:04:05.000000Z07:00"

// NewLogHandler returns the handler behind Logger, writing to w.
func NewLogHandler(w io.Writer, level slog.Leveler) slog.Handler {
	return slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: hclogAttr})
}

func hclogAttr(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 {
		switch a.Key {
		case slog.TimeKey:
			return slog.String("@timestamp", a.Value.Time().Format(hclogTime))
		case slog.LevelKey:
			return slog.String("@level", strings.ToLower(a.Value.String()))
		case slog.MessageKey:
			return slog.String("@message", Redact(a.Value.String()))
		}
	}
	switch a.Value.Kind() {
	case slog.KindString:
		a.Value = slog.StringValue(Redact(a.Value.String()))
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok {
			a.Value = slog.StringValue(Redact(err.Error()))
		}
	}
	return a
}

// Redact masks runs of digits shaped like a resident ID number (17 digits
// and a digit or X) or a mainland mobile number (11 digits starting with
// 1) with cnid.MaskID and cnid.MaskPhone.
func Redact(s string) string {
	var b *strings.Builder
	last := 0
	for i := 0; i < len(s); {
		if !isDigit(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		n := j - i
		end := j
		var masked string
		switch {
		case n == 17 && j < len(s) && (s[j] == 'X' || s[j] == 'x'):
			end = j + 1
			masked = cnid.MaskID(s[i:end])
		case n == 18:
			masked = cnid.MaskID(s[i:end])
		case n == 11 && s[i] == '1':
			masked = cnid.MaskPhone(s[i:end])
		}
		if masked != "" {
			if b == nil {
				b = &strings.Builder{}
				b.Grow(len(s))
			}
			b.WriteString(s[last:i])
			b.WriteString(masked)
			last = end
		}
		i = end
	}
	if b == nil {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
