package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/shiming-id/shiming/gateway/e2e/harness"
)

var build harness.Build

func TestMain(m *testing.M) {
	code := m.Run()
	build.Cleanup()
	os.Exit(code)
}

// benchEnv raises the gateway's per-IP limits: every simulated candidate
// comes from 127.0.0.1.
var benchEnv = []string{
	"SHIMING_LIMITS_QR_STARTS_PER_IP_PER_MINUTE=1000000",
	"SHIMING_LIMITS_SMS_PER_IP_PER_DAY=1000000",
	"SHIMING_LIMITS_PASSWORD_PER_IP_PER_HOUR=1000000",
	"SHIMING_PPROF=1",
}

// TestSmoke runs each mode briefly against the embedded default.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the shiming binary; skipped with -short")
	}
	s := harness.Start(t, build.Path(t), harness.Options{Env: benchEnv})
	common := []string{"--target", s.URL, "--sandbox", s.SandboxURL, "--ops", s.OpsURL, "--progress", "0", "--status-poll", "100ms"}
	tests := []struct {
		name  string
		args  []string
		want  int
		steps []string
		lines []string
	}{
		{"whole journeys with faults",
			[]string{"--candidates", "6", "--concurrency", "3", "--faults", "reused=0.3,stale=0.3,mismatch=0.3"},
			6, []string{"scan", "face", "login", "exam_confirm"}, nil},
		{"real-name registration at a rate",
			[]string{"--mode", "realname", "--candidates", "3", "--rate", "20", "--mix", "alipay=1,ctid=1"},
			3, []string{"open", "password"}, nil},
		{"logins with the ceiling and a profile",
			[]string{"--mode", "login", "--accounts", "2", "--candidates", "4", "--ceiling", "1s",
				"--profile", t.TempDir() + "/cpu.pprof", "--profile-for", "1s"},
			4, []string{"login"}, []string{"ratio to the ceiling:"}},
		{"polls of waiting candidates",
			[]string{"--mode", "poll", "--candidates", "5", "--concurrency", "2", "--duration", "1s"},
			-1, []string{"poll"}, []string{"memory per waiting candidate:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			if err := run(t.Context(), append(common, tt.args...), &stdout, &stderr); err != nil {
				t.Fatalf("run: %v\n%s\n%s", err, stdout.String(), stderr.String())
			}
			out := strings.TrimRight(stdout.String(), "\n")
			last := out[strings.LastIndexByte(out, '\n')+1:]
			var r result
			dec := json.NewDecoder(strings.NewReader(last))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&r); err != nil {
				t.Fatalf("last line %q: %v", last, err)
			}
			if r.Errors != 0 || (tt.want >= 0 && r.Journeys != tt.want) || r.Journeys == 0 {
				t.Errorf("result %+v, want %d without errors\n%s\n%s", r, tt.want, out, stderr.String())
			}
			for _, step := range tt.steps {
				if !containsRow(out, step) {
					t.Errorf("no row for step %s:\n%s", step, out)
				}
			}
			for _, l := range tt.lines {
				if !strings.Contains(out, l) {
					t.Errorf("no line %q:\n%s", l, out)
				}
			}
		})
	}
}

// containsRow reports whether the table has a row for step.
func containsRow(out, step string) bool {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 6 && f[0] == step {
			return true
		}
	}
	return false
}
