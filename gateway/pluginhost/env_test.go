package pluginhost_test

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/shiming-id/shiming/gateway/pluginhost"
	"github.com/shiming-id/shiming/plugins/sdk"
)

// TestPluginsDoNotSeeTheGatewaysEnvironment reads a running plugin's
// environment from /proc: the gateway's own variables (where an operator
// may keep a database DSN or a Redis password) are not passed on; the
// plugin gets only what its Spec says and go-plugin's handshake settings
// (the magic cookie, the socket folder, the host's certificate).
func TestPluginsDoNotSeeTheGatewaysEnvironment(t *testing.T) {
	if _, err := os.Stat("/proc/self/environ"); err != nil {
		t.Skip("no /proc on this system")
	}
	const secret = "postgres://shiming:hunter2-secret@db.internal/shiming"
	t.Setenv("SHIMING_STORAGE_DSN", secret)
	th := newHost(t, fastOptions(), pluginhost.Spec{Name: "vendor", Builtin: "fake", Env: []string{"FAKE_VERSION=1.0.0"}})
	st := th.waitState(t, "vendor", pluginhost.StateHealthy)
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(st.PID) + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(secret)) {
		t.Fatal("the plugin inherited the gateway's SHIMING_STORAGE_DSN")
	}
	for _, kv := range strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00") {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case name == "FAKE_VERSION", name == sdk.Handshake().MagicCookieKey, strings.HasPrefix(name, "PLUGIN_"):
		default:
			t.Errorf("the plugin sees %s, which its spec does not give it", name)
		}
	}
}
