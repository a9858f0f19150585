package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestConfigCheckReportsEveryMistake(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	// Three mistakes: a listen address without a port, postgres without a
	// DSN, an external plugin without its hash.
	bad := `listen: "127.0.0.1"
storage:
  driver: postgres
providers:
  - name: acme
    path: /opt/acme-plugin
    version: 1.0.0
realname:
  scan_providers: [acme]
  identity_check: acme
  sms: acme
  phone_change_face: acme
  face: {default: acme}
`
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCmd(t, "config", "check", path)
	if code != exitUsage {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitUsage, stderr)
	}
	for _, field := range []string{"listen:", "storage.dsn:", "providers[0].sha256:"} {
		if !strings.Contains(stderr, field) {
			t.Errorf("stderr does not name %s:\n%s", field, stderr)
		}
	}
	if n := strings.Count(stderr, "\n  "); n != 3 {
		t.Errorf("want exactly 3 problems listed, got %d:\n%s", n, stderr)
	}
}

func TestServeRefusesBadConfigBeforeStarting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(path, []byte("storage: {driver: oracle}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCmd(t, "serve", "--config", path, "--data", filepath.Join(dir, "data"))
	if code != exitUsage || !strings.Contains(stderr, "storage.driver") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
		t.Fatal("serve created its data folder despite an invalid config")
	}
}

func TestConfigCheckExample(t *testing.T) {
	code, out, stderr := runCmd(t, "config", "check", "../../../contrib/shiming.example.yaml")
	if code != 0 {
		t.Fatalf("the annotated example config does not validate (exit %d):\n%s", code, stderr)
	}
	if !strings.Contains(out, "ok") {
		t.Fatalf("stdout = %q", out)
	}
}

func TestUnknownCommand(t *testing.T) {
	code, _, stderr := runCmd(t, "frobnicate")
	if code != exitUsage || !strings.Contains(stderr, "unknown command") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

func TestPluginHash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p")
	if err := os.WriteFile(path, []byte("plugin"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCmd(t, "plugin-hash", path)
	const want = "5e689e2b01672bf33996e75d5e372ff60c536ce1599a1458e867cd8f4bef5160" // sha256sum of "plugin"
	if code != 0 || !strings.HasPrefix(out, want+"  ") {
		t.Fatalf("exit %d, out %q", code, out)
	}
}
