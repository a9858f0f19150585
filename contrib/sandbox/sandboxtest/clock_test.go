package sandboxtest

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestProcessClock follows the clock as a plugin process started by
// Command sees it.
func TestProcessClock(t *testing.T) {
	srv := Start(t)
	cmd := srv.Command("acme")()
	if cmd.Path == "" || len(cmd.Env) != 2 || !slices.Contains(cmd.Env, serveEnv+"=acme") {
		t.Fatalf("command env %v", cmd.Env)
	}
	file := strings.TrimPrefix(cmd.Env[1], clockEnv+"=")
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("clock file: %v", err)
	}
	t.Setenv(serveEnv, "acme")
	t.Setenv(clockEnv, file)
	if !pluginProcess("acme") || pluginProcess("other") {
		t.Error("pluginProcess does not follow the command's environment")
	}
	process := processClock()
	srv.Clock.Advance(time.Hour)
	if d := time.Until(process()); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("the process clock is %v off real time, want an hour", d)
	}
	if d := srv.Clock.Now().Sub(process()); d < -time.Minute || d > time.Minute {
		t.Errorf("the process clock is %v off the test's", d)
	}
	t.Setenv(clockEnv, "")
	if d := time.Since(processClock()()); d < -time.Minute || d > time.Minute {
		t.Errorf("without a clock file the process clock is %v off real time", d)
	}
}
