package providertest

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/shiming-id/shiming/plugins/sdk"
)

// kindProvider answers CheckIdentity with the error kind its name spells,
// so that every kind can be sent across the plugin transport.
type kindProvider struct{}

func (kindProvider) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "providertest_kinds", Version: "1", Capabilities: []sdk.Capability{sdk.CapabilityIdentityCheck}}, nil
}

func (kindProvider) Configure(context.Context, json.RawMessage) error { return nil }

func (kindProvider) CheckIdentity(_ context.Context, name, _ string) (string, error) {
	for _, k := range sdk.Kinds() {
		if k.String() == name {
			return "", &sdk.Error{Kind: k, VendorCode: "vc_" + name, Fields: []string{"field_" + name}, Message: "kind " + name}
		}
	}
	if name == "plain" {
		return "", errors.New("an unclassified error")
	}
	return "ok", nil
}

// testKinds sends every kind, with its vendor code and fields, across
// the SDK's plugin transport and checks that it arrives unchanged.
func testKinds(t *testing.T) {
	c := sdk.ServeTest(t, kindProvider{})
	ctx := callCtx(t)
	for _, k := range sdk.Kinds() {
		_, err := c.CheckIdentity(ctx, k.String(), "")
		var e *sdk.Error
		if !errors.As(err, &e) {
			t.Errorf("%v: %v is not a *sdk.Error", k, err)
			continue
		}
		if e.Kind != k || e.VendorCode != "vc_"+k.String() || !slices.Equal(e.Fields, []string{"field_" + k.String()}) {
			t.Errorf("%v arrived as kind %v, vendor code %q, fields %v", k, e.Kind, e.VendorCode, e.Fields)
		}
	}
	_, err := c.CheckIdentity(ctx, "plain", "")
	wantKind(t, "a plain error", err, sdk.Internal)
}

// BuildPlugin builds the plugin's main package with the go command
// (pkg as go build takes it: "." for the package of the test) into a
// temporary directory and returns the binary's path.
func BuildPlugin(t testing.TB, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "plugin")
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Env = os.Environ()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("providertest: go build %s: %v\n%s", pkg, err, b)
	}
	return out
}
