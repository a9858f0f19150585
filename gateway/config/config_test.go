package config

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultIsValid(t *testing.T) {
	cfg := Default()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the embedded default does not validate: %v", err)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	in := `
listen: "127.0.0.1"
storage:
  driver: postgres
providers:
  - name: acme
    path: /opt/acme
`
	cfg, err := Load(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.Validate()
	got := map[string]bool{}
	for _, p := range ProblemsOf(err) {
		got[p.Path] = true
	}
	for _, want := range []string{"listen", "storage.dsn", "providers[0].sha256", "providers[0].version", "realname.scan_providers[0]"} {
		if !got[want] {
			t.Errorf("no problem reported for %s; got %v", want, err)
		}
	}
}

func TestLoadRejectsUnknownFields(t *testing.T) {
	_, err := Load(strings.NewReader("listn: 127.0.0.1:8080\n"))
	if err == nil || !strings.Contains(err.Error(), "listn") {
		t.Fatalf("want an error naming the unknown field, got %v", err)
	}
}

func TestLoadDurations(t *testing.T) {
	cfg, err := Load(strings.NewReader("sessions:\n  idle_timeout: 10m\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Sessions.IdleTimeout.D() != 10*time.Minute || cfg.Sessions.AbsoluteTimeout.D() != 8*time.Hour {
		t.Fatalf("sessions = %+v", cfg.Sessions)
	}
	if _, err := Load(strings.NewReader("sessions:\n  idle_timeout: soon\n")); err == nil {
		t.Fatal("accepted a bad duration")
	}
}

func TestApplyEnv(t *testing.T) {
	env := map[string]string{
		"SHIMING_LISTEN":                "0.0.0.0:80",
		"SHIMING_STORAGE_DSN":           "postgres://x@db/shiming",
		"SHIMING_SANDBOX_ENABLED":       "false",
		"SHIMING_LIMITS_SMS_PER_DAY":    "7",
		"SHIMING_SESSIONS_IDLE_TIMEOUT": "5m",
	}
	cfg := Default()
	if err := ApplyEnv(&cfg, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "0.0.0.0:80" || cfg.Storage.DSN != "postgres://x@db/shiming" || cfg.Sandbox.Enabled ||
		cfg.Limits.SMSPerDay != 7 || cfg.Sessions.IdleTimeout.D() != 5*time.Minute {
		t.Fatalf("overrides not applied: %+v", cfg)
	}
	bad := map[string]string{"SHIMING_SANDBOX_ENABLED": "maybe", "SHIMING_LIMITS_SMS_PER_DAY": "many"}
	err := ApplyEnv(&cfg, func(k string) (string, bool) { v, ok := bad[k]; return v, ok })
	if n := len(ProblemsOf(err)); n != 2 {
		t.Fatalf("want 2 problems, got %d: %v", n, err)
	}
}

func TestEnvNames(t *testing.T) {
	names := strings.Join(EnvNames(), " ")
	for _, want := range []string{"SHIMING_LISTEN", "SHIMING_OPS_LISTEN", "SHIMING_DATA_DIR", "SHIMING_STORAGE_DRIVER", "SHIMING_REDIS_ADDR", "SHIMING_SANDBOX_LISTEN"} {
		if !strings.Contains(names, want) {
			t.Errorf("EnvNames lacks %s", want)
		}
	}
}

func FuzzLoad(f *testing.F) {
	f.Add("listen: 127.0.0.1:8080\n")
	f.Add("providers:\n  - name: x\n    path: /p\n    sha256: zz\n")
	f.Add("sessions: {idle_timeout: 1m}\n")
	f.Add(":\n- [")
	f.Fuzz(func(t *testing.T, s string) {
		cfg, err := Load(strings.NewReader(s))
		if err != nil {
			return
		}
		// Validation is pure and never panics, whatever was loaded.
		_ = cfg.Validate()
	})
}

func TestFileMapsReplaceDefaults(t *testing.T) {
	cfg, err := Load(strings.NewReader("realname:\n  face: {default: ctid}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.RealName.Face) != 1 || cfg.RealName.Face["default"] != "ctid" {
		t.Fatalf("face = %v, want only the file's mapping", cfg.RealName.Face)
	}
	cfg, _ = Load(strings.NewReader("listen: 127.0.0.1:8080\n"))
	if cfg.RealName.Face["wechat"] != "wechat" {
		t.Fatalf("face default lost: %v", cfg.RealName.Face)
	}
}
