package pluginhost_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/shiming-id/shiming/gateway/pluginhost"
	"github.com/shiming-id/shiming/plugins/sdk"
)

// BenchmarkHostCall measures what the supervisor adds to a plugin call:
// PollScan through a pluginhost.Provider (call accounting, wait for a
// serving instance, capability check, metrics) against the bare
// sdk.Client over go-plugin, each to its own process of the same plugin.
// Both get a caller context with a deadline, as the gateway's requests
// have.
func BenchmarkHostCall(b *testing.B) {
	h, err := pluginhost.New([]pluginhost.Spec{{Name: "bench", Builtin: "fake"}}, pluginhost.Options{})
	if err != nil {
		b.Fatal(err)
	}
	h.Start()
	b.Cleanup(func() { _ = h.Shutdown(context.Background()) })
	deadline := time.Now().Add(time.Minute)
	for h.Ready(context.Background()) != nil {
		if time.Now().After(deadline) {
			b.Fatal("plugin not ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	hosted, err := h.Provider("bench")
	if err != nil {
		b.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "plugin", "fake")
	pc := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake(),
		VersionedPlugins: sdk.VersionedPlugins(),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		Logger:           hclog.New(&hclog.LoggerOptions{Output: io.Discard, Level: hclog.Off}),
	})
	b.Cleanup(pc.Kill)
	proto, err := pc.Client()
	if err != nil {
		b.Fatal(err)
	}
	raw, err := proto.Dispense(sdk.PluginName)
	if err != nil {
		b.Fatal(err)
	}
	bare := raw.(*sdk.Client)
	if err := bare.Configure(context.Background(), []byte(`{}`)); err != nil {
		b.Fatal(err)
	}

	const uuid = "5b0c7a52-1f0e-4b8e-9a4f-2f6b3c1d9e77"
	paths := []struct {
		name string
		call func(context.Context) error
	}{
		{"sdk", func(ctx context.Context) error { _, err := bare.PollScan(ctx, uuid); return err }},
		{"host", func(ctx context.Context) error { _, err := hosted.PollScan(ctx, uuid); return err }},
	}
	for _, par := range []int{8, 64} {
		for _, p := range paths {
			b.Run(fmt.Sprintf("p%d/%s", par, p.name), func(b *testing.B) { runCalls(b, par, p.call) })
		}
	}
}

func runCalls(b *testing.B, parallelism int, call func(context.Context) error) {
	var (
		mu  sync.Mutex
		all []time.Duration
	)
	b.SetParallelism(parallelism)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		lat := make([]time.Duration, 0, 1024)
		for pb.Next() {
			t0 := time.Now()
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := call(cctx)
			cancel()
			if err != nil {
				b.Error(err)
				return
			}
			lat = append(lat, time.Since(t0))
		}
		mu.Lock()
		all = append(all, lat...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	b.ReportMetric(float64(all[len(all)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "calls/s")
}
