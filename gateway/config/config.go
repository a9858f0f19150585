// Package config is the gateway's configuration: one typed struct, read
// from YAML, overridden by SHIMING_* environment variables, and validated
// without side effects, reporting every problem at once with its field
// path. Every field has a default that serves the embedded demo.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration of `shiming serve`.
type Config struct {
	// Listen is the public listener for browsers.
	Listen string `yaml:"listen"`
	// OpsListen serves /metrics, /healthz and /readyz. Keep it private.
	OpsListen string `yaml:"ops_listen"`
	// PublicURL is how browsers reach the gateway (scheme, host, port).
	// Empty means http:// + Listen. An https URL turns on Secure cookies
	// with the __Host- prefix and HSTS.
	PublicURL string `yaml:"public_url"`
	// DataDir holds the SQLite database, generated keys and plugin
	// sockets of the embedded default.
	DataDir string `yaml:"data_dir"`
	// PProf serves Go's profiles (net/http/pprof) under /debug/pprof/ on
	// the ops listener, for measuring where the time goes under load
	// (BENCHMARKS.md). Off by default; SHIMING_PPROF=1 turns it on.
	PProf bool `yaml:"pprof"`

	Storage   Storage    `yaml:"storage"`
	Redis     Redis      `yaml:"redis"`
	Keys      Keys       `yaml:"keys"`
	Sessions  Sessions   `yaml:"sessions"`
	Portals   []Portal   `yaml:"portals"`
	Providers []Provider `yaml:"providers"`
	RealName  RealName   `yaml:"realname"`
	OIDC      []Issuer   `yaml:"oidc"`
	Sandbox   Sandbox    `yaml:"sandbox"`
	Exam      Exam       `yaml:"exam"`
	Operators []Operator `yaml:"operators"`
	Limits    Limits     `yaml:"limits"`
	Password  Password   `yaml:"password"`
	Log       Log        `yaml:"log"`
}

// Storage selects the durable database.
type Storage struct {
	// Driver is sqlite (the embedded default) or postgres.
	Driver string `yaml:"driver"`
	// DSN is a file path for sqlite (default DataDir/shiming.db) or a
	// PostgreSQL URL (postgres://user:pass@host:5432/db?sslmode=require).
	DSN string `yaml:"dsn"`
}

// Redis holds shared state for many replicas: sessions, flow state,
// single-use codes and rate counters. Empty Addr keeps them in the
// database, which is right for one replica.
type Redis struct {
	Addr     string `yaml:"addr"`
	Password string `yaml:"password"`
	DB       int    `yaml:"db"`
	// Prefix starts every key, so that several deployments (or test
	// runs) can share one Redis. Empty means "shiming:".
	Prefix string `yaml:"prefix"`
}

// Keys locates the master key that seals personal data and signs tickets.
type Keys struct {
	// MasterKeyFile holds 32 base64-encoded bytes (mode 0600). Empty means
	// DataDir/keys/master.key, generated on first run. Every replica must
	// share the same key.
	MasterKeyFile string `yaml:"master_key_file"`
}

// Sessions configures the browser session.
type Sessions struct {
	IdleTimeout     Duration `yaml:"idle_timeout"`
	AbsoluteTimeout Duration `yaml:"absolute_timeout"`
}

// Portal is one entry point candidates arrive from.
type Portal struct {
	ID   string `yaml:"id"`   // used in URLs: /{id}/
	Name string `yaml:"name"` // display name
	Home string `yaml:"home"` // the portal's own home page
}

// Provider declares an identity-provider plugin.
type Provider struct {
	// Name is how flows refer to the provider (wechat, alipay, ...).
	Name string `yaml:"name"`
	// Builtin names a provider compiled into this binary; the host runs
	// it as `shiming plugin <builtin>`. Mutually exclusive with Path.
	Builtin string `yaml:"builtin"`
	// Path is an external plugin executable; SHA256 and Version are then
	// required.
	Path    string   `yaml:"path"`
	Args    []string `yaml:"args"`
	SHA256  string   `yaml:"sha256"`
	Version string   `yaml:"version"`
	// Config is handed to the plugin's Configure as JSON.
	Config       map[string]any `yaml:"config"`
	StartTimeout Duration       `yaml:"start_timeout"`
	CallTimeout  Duration       `yaml:"call_timeout"`
}

// RealName chooses which providers serve each step of the journeys.
type RealName struct {
	// ScanProviders are offered on the real-name page, in order.
	ScanProviders []string `yaml:"scan_providers"`
	// IdentityCheck checks name + ID number (二要素).
	IdentityCheck string `yaml:"identity_check"`
	// Face maps a scan provider to the provider that runs face
	// verification after it; "default" applies to the rest.
	Face map[string]string `yaml:"face"`
	// SMS sends one-time codes.
	SMS string `yaml:"sms"`
	// PhoneChangeFace runs face verification during a phone change.
	PhoneChangeFace string `yaml:"phone_change_face"`
	// FlowTTL bounds how long a journey may take.
	FlowTTL Duration `yaml:"flow_ttl"`
	// ScanPollInterval is how often a waiting QR session asks the vendor.
	ScanPollInterval Duration `yaml:"scan_poll_interval"`
}

// Issuer is a government-portal OIDC identity provider.
type Issuer struct {
	ID           string   `yaml:"id"` // short name in URLs and metrics
	Name         string   `yaml:"name"`
	IssuerURL    string   `yaml:"issuer"`
	ClientID     string   `yaml:"client_id"`
	ClientSecret string   `yaml:"client_secret"`
	Scopes       []string `yaml:"scopes"`
	// RealNameClaims names the ID-token claims trusted as real-name
	// evidence: name and id_number claim names, and the level granted.
	// Empty means the issuer's tokens are not real-name evidence.
	RealNameClaims RealNameClaims `yaml:"real_name_claims"`
}

// RealNameClaims says which claims of an issuer count as evidence.
type RealNameClaims struct {
	Name     string `yaml:"name"`
	IDNumber string `yaml:"id_number"`
	// Level is the evidence level granted: name_id, face or ctid.
	Level string `yaml:"level"`
	// Require names a boolean claim that must be true (e.g.
	// real_name_verified).
	Require string `yaml:"require"`
}

// Sandbox runs the vendor simulators and the government IdP in-process,
// or points the gateway at a sandbox running as its own process.
type Sandbox struct {
	// Enabled runs the sandbox in-process (the embedded default).
	Enabled bool   `yaml:"enabled"`
	Listen  string `yaml:"listen"`
	// PublicURL is how browsers and plugins reach the sandbox; empty means
	// http:// + Listen.
	PublicURL string `yaml:"public_url"`
	// AppsFile is the sandbox-apps.yaml of an external `shiming sandbox`.
	// With it (and Enabled false) the built-in providers without their
	// own config, and the government IdP when oidc is empty, are pointed
	// at the sandbox at PublicURL with those credentials.
	AppsFile string `yaml:"apps_file"`
}

// Exam configures the registration app.
type Exam struct {
	// CatalogFile is an exam catalog CSV; empty loads the sample catalog.
	CatalogFile string `yaml:"catalog_file"`
	// ClockOffset shifts the registration clock, for demos of a window
	// that is not open today.
	ClockOffset Duration `yaml:"clock_offset"`
}

// Operator is an exam-authority staff account.
type Operator struct {
	Username string `yaml:"username"`
	// PasswordHash is argon2id in PHC format (shiming operator hash).
	PasswordHash string `yaml:"password_hash"`
}

// Limits are the abuse limits.
type Limits struct {
	PasswordPerAccountPerHour int      `yaml:"password_per_account_per_hour"`
	PasswordPerIPPerHour      int      `yaml:"password_per_ip_per_hour"`
	LockoutAfter              int      `yaml:"lockout_after"`
	LockoutFor                Duration `yaml:"lockout_for"`
	SMSPerPhonePerDay         int      `yaml:"sms_per_phone_per_day"`
	SMSPerIDPerDay            int      `yaml:"sms_per_id_per_day"`
	SMSPerIPPerDay            int      `yaml:"sms_per_ip_per_day"`
	SMSPerDay                 int      `yaml:"sms_per_day"`
	SMSResendAfter            Duration `yaml:"sms_resend_after"`
	QRStartsPerIPPerMinute    int      `yaml:"qr_starts_per_ip_per_minute"`
	// MaxInFlight is the most requests one replica's public listener
	// serves at once; beyond it a request gets the 503 page (系统繁忙)
	// with Retry-After at once instead of queueing.
	MaxInFlight int `yaml:"max_in_flight"`
	// TrustedProxies are CIDRs whose X-Forwarded-For is believed.
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// Password sets the argon2id cost for candidate passwords.
type Password struct {
	MemoryKiB   int `yaml:"memory_kib"`
	Iterations  int `yaml:"iterations"`
	Parallelism int `yaml:"parallelism"`
}

// Log configures the gateway's log.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// Duration is a time.Duration written as "30m" in YAML.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML accepts Go duration strings.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: want a duration like 30s or 5m", n.Line)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 30s or 5m", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Default returns the configuration of the embedded default: SQLite under
// ./shiming-data, the sandbox in-process, the built-in providers, three
// portals and the sample exam.
func Default() Config {
	return Config{
		Listen:    "127.0.0.1:8080",
		OpsListen: "127.0.0.1:9464",
		DataDir:   "./shiming-data",
		Storage:   Storage{Driver: "sqlite"},
		Sessions: Sessions{
			IdleTimeout:     Duration(30 * time.Minute),
			AbsoluteTimeout: Duration(8 * time.Hour),
		},
		Portals: []Portal{
			{ID: "hunanpea", Name: "湖南人事考试网", Home: "http://www.hunanpea.com/"},
			{ID: "hxw", Name: "红星网", Home: "http://www.hxw.gov.cn/"},
			{ID: "zwfw", Name: "湖南省“一件事一次办”", Home: "http://zwfw-new.hunan.gov.cn/"},
		},
		// The built-in providers; with the sandbox enabled the server points
		// them at it, otherwise a config file gives their vendor settings.
		Providers: []Provider{
			{Name: "wechat", Builtin: "wechat"},
			{Name: "alipay", Builtin: "alipay"},
			{Name: "ctid", Builtin: "ctid"},
			{Name: "sms", Builtin: "sms"},
		},
		RealName: RealName{
			ScanProviders:    []string{"wechat", "alipay", "ctid"},
			IdentityCheck:    "ctid",
			Face:             map[string]string{"wechat": "wechat", "alipay": "alipay", "default": "ctid"},
			SMS:              "sms",
			PhoneChangeFace:  "alipay",
			FlowTTL:          Duration(30 * time.Minute),
			ScanPollInterval: Duration(2 * time.Second),
		},
		Sandbox: Sandbox{Enabled: true, Listen: "127.0.0.1:8081"},
		Limits: Limits{
			PasswordPerAccountPerHour: 20,
			PasswordPerIPPerHour:      100,
			LockoutAfter:              10,
			LockoutFor:                Duration(15 * time.Minute),
			SMSPerPhonePerDay:         10,
			SMSPerIDPerDay:            10,
			SMSPerIPPerDay:            50,
			SMSPerDay:                 100000,
			SMSResendAfter:            Duration(60 * time.Second),
			QRStartsPerIPPerMinute:    30,
			MaxInFlight:               1024,
		},
		Password: Password{MemoryKiB: 19 * 1024, Iterations: 2, Parallelism: 1},
		Log:      Log{Level: "info", Format: "text"},
	}
}

// Load reads YAML over the defaults. Unknown fields are errors, so a
// misspelt key is reported instead of silently ignored. A file describes
// a real deployment: the in-process sandbox runs only if it says so.
func Load(r io.Reader) (Config, error) {
	cfg := Default()
	cfg.Sandbox.Enabled = false
	// A map in the file replaces the default map instead of merging
	// into it: realname.face given in a file is the whole mapping.
	defaultFace := cfg.RealName.Face
	cfg.RealName.Face = nil
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if cfg.RealName.Face == nil {
		cfg.RealName.Face = defaultFace
	}
	return cfg, nil
}

// LoadFile reads a YAML file over the defaults.
func LoadFile(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	cfg, err := Load(bytes.NewReader(b))
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// Embedded reports whether the configuration runs the sandbox in-process,
// which the embedded default does.
func (c Config) Embedded() bool { return c.Sandbox.Enabled }

// PublicBase returns PublicURL, or http:// + Listen when it is empty.
func (c Config) PublicBase() string {
	if c.PublicURL != "" {
		return strings.TrimSuffix(c.PublicURL, "/")
	}
	return "http://" + c.Listen
}

// SandboxBase returns Sandbox.PublicURL, or http:// + Sandbox.Listen.
func (c Config) SandboxBase() string {
	if c.Sandbox.PublicURL != "" {
		return strings.TrimSuffix(c.Sandbox.PublicURL, "/")
	}
	return "http://" + c.Sandbox.Listen
}
