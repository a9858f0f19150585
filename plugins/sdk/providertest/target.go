package providertest

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/shiming-id/shiming/plugins/sdk"
)

// target opens providers to test: in the test process, or in a plugin
// process.
type target interface {
	// open returns a client for a fresh provider, configured with config
	// unless it is nil.
	open(t *testing.T, config json.RawMessage) *sdk.Client
}

type inProcess struct{ h *Harness }

func (x inProcess) open(t *testing.T, config json.RawMessage) *sdk.Client {
	t.Helper()
	c := sdk.ServeTest(t, x.h.New())
	configure(t, c, config)
	return c
}

type overTheWire struct{ h *Harness }

// open starts the plugin binary as the gateway does: AutoMTLS, gRPC
// only, none of the test's environment.
func (x overTheWire) open(t *testing.T, config json.RawMessage) *sdk.Client {
	t.Helper()
	cmd := x.h.Command()
	pc := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake(),
		VersionedPlugins: sdk.VersionedPlugins(),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		StartTimeout:     30 * time.Second,
		Logger: hclog.New(&hclog.LoggerOptions{
			Name:   filepath.Base(cmd.Path),
			Output: &testLog{t: t},
			Level:  hclog.Info,
		}),
	})
	t.Cleanup(pc.Kill)
	proto, err := pc.Client()
	if err != nil {
		t.Fatalf("providertest: start plugin %s: %v", cmd.Path, err)
	}
	raw, err := proto.Dispense(sdk.PluginName)
	if err != nil {
		t.Fatalf("providertest: dispense: %v", err)
	}
	c := raw.(*sdk.Client)
	configure(t, c, config)
	return c
}

func configure(t *testing.T, c *sdk.Client, config json.RawMessage) {
	t.Helper()
	if config == nil {
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
	defer cancel()
	if err := c.Configure(ctx, config); err != nil {
		t.Fatalf("Configure with a valid configuration: %v", err)
	}
}

// testLog writes the plugin's log lines to the test log while the test
// runs.
type testLog struct {
	t *testing.T
}

func (l *testLog) Write(p []byte) (int, error) {
	if s := strings.TrimSpace(string(bytes.ToValidUTF8(p, nil))); s != "" {
		l.t.Log(s)
	}
	return len(p), nil
}
