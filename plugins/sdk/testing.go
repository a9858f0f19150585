package sdk

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"google.golang.org/grpc"
)

// ServeTest serves p inside the test process over go-plugin's own gRPC
// transport (a unix socket, go-plugin's server and client) with the same
// adapters, limits and interceptor as Serve, and returns a Client for it.
// Only the process boundary is missing, so a test of p runs under the
// race detector. Everything stops when the test ends.
func ServeTest(t testing.TB, p Provider, opts ...ServeOption) *Client {
	t.Helper()
	c, err := serveInProcess(p, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.stop)
	return c.client
}

type inProcessPlugin struct {
	client *Client
	stop   func()
}

func serveInProcess(p Provider, opts ...ServeOption) (*inProcessPlugin, error) {
	c := newServeConfig(opts)
	ctx, cancel := context.WithCancel(context.Background())
	ictx, icancel := context.WithTimeout(ctx, infoTimeout)
	srv, err := newServer(ictx, p, nil)
	icancel()
	if err != nil {
		cancel()
		return nil, err
	}
	r := &rpcs{log: c.logger}
	reattach := make(chan *plugin.ReattachConfig, 1)
	closed := make(chan struct{})
	go plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake(),
		VersionedPlugins: map[int]plugin.PluginSet{
			ProtocolVersion: {PluginName: &GRPCPlugin{Impl: p, srv: srv}},
		},
		GRPCServer: func(o []grpc.ServerOption) *grpc.Server { return r.grpcServer(c, o) },
		Logger:     hclog.New(&hclog.LoggerOptions{Output: io.Discard, Level: hclog.Off}),
		Test:       &plugin.ServeTestConfig{Context: ctx, ReattachConfigCh: reattach, CloseCh: closed},
	})
	var rc *plugin.ReattachConfig
	select {
	case rc = <-reattach:
	case <-closed:
		cancel()
		return nil, fmt.Errorf("sdk: in-process plugin stopped before serving")
	case <-time.After(10 * time.Second):
		cancel()
		return nil, fmt.Errorf("sdk: in-process plugin did not start")
	}
	// A reattached client with a runner closes its connection on Kill;
	// the runner's Wait ends when the in-process server does.
	rc.Test = false
	rc.ReattachFunc = func() (runner.AttachedRunner, error) {
		return &inProcessRunner{done: closed, stop: cancel}, nil
	}
	pc := plugin.NewClient(&plugin.ClientConfig{
		Plugins:          plugin.PluginSet{PluginName: &GRPCPlugin{}},
		Reattach:         rc,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           hclog.NewNullLogger(),
	})
	stop := func() {
		pc.Kill()
		cancel()
		<-closed
	}
	proto, err := pc.Client()
	if err != nil {
		stop()
		return nil, fmt.Errorf("sdk: connect to in-process plugin: %w", err)
	}
	raw, err := proto.Dispense(PluginName)
	if err != nil {
		stop()
		return nil, fmt.Errorf("sdk: dispense in-process plugin: %w", err)
	}
	return &inProcessPlugin{client: raw.(*Client), stop: stop}, nil
}

// inProcessRunner stands for the plugin "process" of ServeTest.
type inProcessRunner struct {
	done <-chan struct{}
	stop context.CancelFunc
}

func (r *inProcessRunner) Wait(context.Context) error { <-r.done; return nil }

func (r *inProcessRunner) Kill(context.Context) error { r.stop(); return nil }

func (r *inProcessRunner) ID() string { return "in-process" }

func (r *inProcessRunner) PluginToHost(n, a string) (string, string, error) { return n, a, nil }

func (r *inProcessRunner) HostToPlugin(n, a string) (string, string, error) { return n, a, nil }
