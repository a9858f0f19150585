package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Problem is one mistake in a configuration, with the path of the field.
type Problem struct {
	Path    string // e.g. providers[1].sha256
	Message string
}

// Problems collects every mistake of a configuration.
type Problems []Problem

// Add records a problem.
func (p *Problems) Add(path, message string) { *p = append(*p, Problem{path, message}) }

// Err returns the problems as an error, or nil when there are none.
func (p Problems) Err() error {
	if len(p) == 0 {
		return nil
	}
	return &ValidationError{Problems: p}
}

// ValidationError lists every problem of a configuration.
type ValidationError struct {
	Problems Problems
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "config: %d problem(s):", len(e.Problems))
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "\n  %s: %s", p.Path, p.Message)
	}
	return b.String()
}

// ProblemsOf returns the problems behind a validation error.
func ProblemsOf(err error) Problems {
	var v *ValidationError
	if errors.As(err, &v) {
		return v.Problems
	}
	return nil
}

var (
	idPattern      = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
	builtins       = []string{"wechat", "alipay", "ctid", "sms"}
	levels         = []string{"name_id", "face", "ctid"}
	logLevels      = []string{"debug", "info", "warn", "error"}
	reservedPortal = []string{"static", "operator", "callback", "oidc", "phone", "sandbox", "healthz", "readyz", "metrics", "exam", "mobile"}
)

// Validate checks the configuration without touching the outside world
// and reports every problem at once.
func (c *Config) Validate() error {
	var p Problems
	addr := func(path, v string, required bool) {
		if v == "" {
			if required {
				p.Add(path, "is required (host:port)")
			}
			return
		}
		if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
			p.Add(path, fmt.Sprintf("%q is not host:port", v))
		}
	}
	httpURL := func(path, v string, required bool) {
		if v == "" {
			if required {
				p.Add(path, "is required")
			}
			return
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.Add(path, fmt.Sprintf("%q is not an http(s) URL", v))
		}
	}

	addr("listen", c.Listen, true)
	addr("ops_listen", c.OpsListen, true)
	if c.Listen != "" && c.Listen == c.OpsListen {
		p.Add("ops_listen", "must differ from listen: keep metrics off the public listener")
	}
	httpURL("public_url", c.PublicURL, false)
	if c.DataDir == "" {
		p.Add("data_dir", "is required")
	}

	switch c.Storage.Driver {
	case "sqlite":
	case "postgres":
		if c.Storage.DSN == "" {
			p.Add("storage.dsn", "is required for postgres (postgres://user:pass@host:5432/db)")
		} else if u, err := url.Parse(c.Storage.DSN); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			p.Add("storage.dsn", "must be a postgres:// URL")
		}
	default:
		p.Add("storage.driver", fmt.Sprintf("%q is not sqlite or postgres", c.Storage.Driver))
	}
	if c.Redis.Addr != "" {
		addr("redis.addr", c.Redis.Addr, false)
	}
	if c.Redis.DB < 0 {
		p.Add("redis.db", "must not be negative")
	}

	if c.Sessions.IdleTimeout <= 0 {
		p.Add("sessions.idle_timeout", "must be positive")
	}
	if c.Sessions.AbsoluteTimeout < c.Sessions.IdleTimeout {
		p.Add("sessions.absolute_timeout", "must not be shorter than sessions.idle_timeout")
	}

	if len(c.Portals) == 0 {
		p.Add("portals", "at least one portal is required")
	}
	seenPortal := map[string]bool{}
	for i, pt := range c.Portals {
		path := fmt.Sprintf("portals[%d]", i)
		switch {
		case !idPattern.MatchString(pt.ID):
			p.Add(path+".id", fmt.Sprintf("%q must be lower-case letters, digits, - or _", pt.ID))
		case slices.Contains(reservedPortal, pt.ID):
			p.Add(path+".id", fmt.Sprintf("%q is a reserved path", pt.ID))
		case seenPortal[pt.ID]:
			p.Add(path+".id", fmt.Sprintf("%q is used twice", pt.ID))
		}
		seenPortal[pt.ID] = true
		if pt.Name == "" {
			p.Add(path+".name", "is required")
		}
		httpURL(path+".home", pt.Home, false)
	}

	providers := map[string]bool{}
	for i, pr := range c.Providers {
		path := fmt.Sprintf("providers[%d]", i)
		if !idPattern.MatchString(pr.Name) {
			p.Add(path+".name", fmt.Sprintf("%q must be lower-case letters, digits, - or _", pr.Name))
		} else if providers[pr.Name] {
			p.Add(path+".name", fmt.Sprintf("%q is used twice", pr.Name))
		}
		providers[pr.Name] = true
		switch {
		case pr.Builtin != "" && pr.Path != "":
			p.Add(path, "set builtin or path, not both")
		case pr.Builtin != "":
			if !slices.Contains(builtins, pr.Builtin) {
				p.Add(path+".builtin", fmt.Sprintf("%q is not one of %s", pr.Builtin, strings.Join(builtins, ", ")))
			}
		case pr.Path != "":
			if b, err := hex.DecodeString(pr.SHA256); err != nil || len(b) != 32 {
				p.Add(path+".sha256", "is required for an external plugin: 64 hex digits (sha256sum of the binary)")
			}
			if pr.Version == "" {
				p.Add(path+".version", "is required for an external plugin: the version it must report")
			}
		default:
			p.Add(path, "set builtin (wechat, alipay, ctid, sms) or path")
		}
		if pr.StartTimeout < 0 || pr.StartTimeout.D() > 15e9 {
			p.Add(path+".start_timeout", "must be between 0 (default) and 15s")
		}
		if pr.CallTimeout < 0 {
			p.Add(path+".call_timeout", "must not be negative")
		}
	}
	ref := func(path, name string) {
		if name != "" && !providers[name] {
			p.Add(path, fmt.Sprintf("%q is not a declared provider", name))
		}
	}
	for i, name := range c.RealName.ScanProviders {
		ref(fmt.Sprintf("realname.scan_providers[%d]", i), name)
	}
	ref("realname.identity_check", c.RealName.IdentityCheck)
	ref("realname.sms", c.RealName.SMS)
	ref("realname.phone_change_face", c.RealName.PhoneChangeFace)
	for _, k := range sortedKeys(c.RealName.Face) {
		ref("realname.face."+k, c.RealName.Face[k])
	}
	if len(c.Providers) > 0 && c.RealName.SMS == "" {
		p.Add("realname.sms", "is required: accounts bind a phone by SMS code")
	}
	if c.RealName.FlowTTL <= 0 {
		p.Add("realname.flow_ttl", "must be positive")
	}
	if c.RealName.ScanPollInterval <= 0 {
		p.Add("realname.scan_poll_interval", "must be positive")
	}

	seenIssuer := map[string]bool{}
	for i, is := range c.OIDC {
		path := fmt.Sprintf("oidc[%d]", i)
		if !idPattern.MatchString(is.ID) {
			p.Add(path+".id", fmt.Sprintf("%q must be lower-case letters, digits, - or _", is.ID))
		} else if seenIssuer[is.ID] {
			p.Add(path+".id", fmt.Sprintf("%q is used twice", is.ID))
		}
		seenIssuer[is.ID] = true
		httpURL(path+".issuer", is.IssuerURL, true)
		if is.ClientID == "" {
			p.Add(path+".client_id", "is required")
		}
		rc := is.RealNameClaims
		if rc != (RealNameClaims{}) {
			if rc.Name == "" || rc.IDNumber == "" {
				p.Add(path+".real_name_claims", "name and id_number claim names are both required")
			}
			if !slices.Contains(levels, rc.Level) {
				p.Add(path+".real_name_claims.level", fmt.Sprintf("%q is not one of %s", rc.Level, strings.Join(levels, ", ")))
			}
		}
	}

	if c.Sandbox.AppsFile != "" && !c.Sandbox.Enabled && c.Sandbox.PublicURL == "" {
		p.Add("sandbox.public_url", "is required with sandbox.apps_file: where the external sandbox answers")
	}
	if c.Sandbox.Enabled {
		addr("sandbox.listen", c.Sandbox.Listen, true)
		if c.Sandbox.Listen != "" && (c.Sandbox.Listen == c.Listen || c.Sandbox.Listen == c.OpsListen) {
			p.Add("sandbox.listen", "must differ from listen and ops_listen")
		}
		httpURL("sandbox.public_url", c.Sandbox.PublicURL, false)
	}

	for i, op := range c.Operators {
		path := fmt.Sprintf("operators[%d]", i)
		if !idPattern.MatchString(op.Username) {
			p.Add(path+".username", fmt.Sprintf("%q must be lower-case letters, digits, - or _", op.Username))
		}
		if !strings.HasPrefix(op.PasswordHash, "$argon2id$") {
			p.Add(path+".password_hash", "must be an argon2id hash from `shiming operator hash`")
		}
	}

	l := c.Limits
	for _, f := range []struct {
		path string
		v    int
	}{
		{"limits.password_per_account_per_hour", l.PasswordPerAccountPerHour},
		{"limits.password_per_ip_per_hour", l.PasswordPerIPPerHour},
		{"limits.lockout_after", l.LockoutAfter},
		{"limits.sms_per_phone_per_day", l.SMSPerPhonePerDay},
		{"limits.sms_per_id_per_day", l.SMSPerIDPerDay},
		{"limits.sms_per_ip_per_day", l.SMSPerIPPerDay},
		{"limits.sms_per_day", l.SMSPerDay},
		{"limits.qr_starts_per_ip_per_minute", l.QRStartsPerIPPerMinute},
		{"limits.max_in_flight", l.MaxInFlight},
	} {
		if f.v <= 0 {
			p.Add(f.path, "must be positive")
		}
	}
	if l.PasswordPerAccountPerHour > 100 {
		p.Add("limits.password_per_account_per_hour", "must be at most 100 (ASVS 4.0.3 2.2.1)")
	}
	if l.LockoutFor <= 0 {
		p.Add("limits.lockout_for", "must be positive")
	}
	if l.SMSResendAfter < 0 {
		p.Add("limits.sms_resend_after", "must not be negative")
	}
	for i, cidr := range l.TrustedProxies {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			p.Add(fmt.Sprintf("limits.trusted_proxies[%d]", i), fmt.Sprintf("%q is not a CIDR like 10.0.0.0/8", cidr))
		}
	}

	if c.Password.MemoryKiB < 8*1024 {
		p.Add("password.memory_kib", "must be at least 8192 (OWASP: argon2id with 19 MiB, 2 iterations)")
	}
	if c.Password.Iterations < 1 {
		p.Add("password.iterations", "must be at least 1")
	}
	if c.Password.Parallelism < 1 || c.Password.Parallelism > 255 {
		p.Add("password.parallelism", "must be between 1 and 255")
	}
	if !slices.Contains(logLevels, c.Log.Level) {
		p.Add("log.level", fmt.Sprintf("%q is not one of %s", c.Log.Level, strings.Join(logLevels, ", ")))
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		p.Add("log.format", fmt.Sprintf("%q is not text or json", c.Log.Format))
	}
	return p.Err()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
