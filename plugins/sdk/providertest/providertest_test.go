package providertest_test

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/providertest"
)

// brokenEnv makes TestBrokenProviderFailsTheKit run; only
// TestKitCatchesBrokenProvider sets it, in a child process.
const brokenEnv = "PROVIDERTEST_RUN_BROKEN"

func harness(reuseBug bool) providertest.Harness {
	v := newVendor()
	return providertest.Harness{
		New:         func() sdk.Provider { return &ref{v: v, reuseBug: reuseBug} },
		Config:      json.RawMessage(`{"app":"app1"}`),
		OtherConfig: json.RawMessage(`{"app":"app2"}`),
		BadConfig:   json.RawMessage(`{"app":"a.b"}`),
		BadFields:   []string{"app"},
		Phone:       v,
		People:      v.people,
		Slow:        v.makeSlow,
	}
}

// TestReferenceProviderPasses runs the kit in-process against a correct
// provider with every capability. (The over-the-wire run is proved by
// contrib/example-plugin, whose vendor double is reachable from a
// plugin process.)
func TestReferenceProviderPasses(t *testing.T) {
	providertest.Run(t, harness(false))
}

func TestBrokenProviderFailsTheKit(t *testing.T) {
	if os.Getenv(brokenEnv) == "" {
		t.Skip("run by TestKitCatchesBrokenProvider in a child process")
	}
	providertest.Run(t, harness(true))
}

// TestKitCatchesBrokenProvider checks that the kit fails a provider that
// lets a code be exchanged twice, naming the kind it expected.
func TestKitCatchesBrokenProvider(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenProviderFailsTheKit$", "-test.v")
	cmd.Env = append(os.Environ(), brokenEnv+"=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("the kit passed a broken provider (err %v):\n%s", err, out)
	}
	for _, want := range []string{
		"--- FAIL: TestBrokenProviderFailsTheKit/in_process/scan_login/happy_path_and_code_reused",
		"want kind code_reused",
		"--- PASS: TestBrokenProviderFailsTheKit/in_process/identity_check",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("kit output lacks %q:\n%s", want, out)
		}
	}
}

// TestHarnessIsChecked checks that an incomplete harness fails with
// every problem named.
func TestHarnessIsChecked(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestIncompleteHarness$")
	cmd.Env = append(os.Environ(), brokenEnv+"=incomplete")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Harness.New is required") || !strings.Contains(string(out), "Harness.Slow is required") {
		t.Fatalf("incomplete harness: err %v:\n%s", err, out)
	}
}

func TestIncompleteHarness(t *testing.T) {
	if os.Getenv(brokenEnv) != "incomplete" {
		t.Skip("run by TestHarnessIsChecked in a child process")
	}
	h := harness(false)
	h.New, h.Slow = nil, nil
	providertest.Run(t, h)
}
