package sdk_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/shiming-id/shiming/plugins/sdk"
)

// The floor of the benchmark: a bare go-plugin gRPC service with one
// unary method echoing a string, no interceptors, no limits.

type echoServer interface {
	Echo(context.Context, *wrapperspb.StringValue) (*wrapperspb.StringValue, error)
}

type echoImpl struct{}

func (echoImpl) Echo(_ context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
	return in, nil
}

const echoMethod = "/shiming.bench.Echo/Echo"

var echoDesc = grpc.ServiceDesc{
	ServiceName: "shiming.bench.Echo",
	HandlerType: (*echoServer)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Echo",
		Handler: func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.StringValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			return srv.(echoServer).Echo(ctx, in)
		},
	}},
}

type echoPlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (echoPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	s.RegisterService(&echoDesc, echoImpl{})
	return nil
}

func (echoPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, cc *grpc.ClientConn) (any, error) {
	return cc, nil
}

func serveEcho() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  sdk.Handshake(),
		VersionedPlugins: map[int]plugin.PluginSet{1: {"echo": echoPlugin{}}},
		GRPCServer:       plugin.DefaultGRPCServer,
		Logger:           hclog.New(&hclog.LoggerOptions{Output: io.Discard, Level: hclog.Off}),
	})
}

// startPlugin re-executes the test binary as a plugin of the given mode,
// with the host settings the gateway uses (AutoMTLS, no host environment,
// gRPC only), and dispenses name. It returns the plugin's pid too.
func startPlugin(b *testing.B, mode string, set plugin.PluginSet, name string) (any, int) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = []string{pluginEnv + "=" + mode}
	c := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake(),
		VersionedPlugins: map[int]plugin.PluginSet{1: set},
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		StartTimeout:     30 * time.Second,
		Logger:           hclog.New(&hclog.LoggerOptions{Output: io.Discard, Level: hclog.Off}),
	})
	b.Cleanup(c.Kill)
	proto, err := c.Client()
	if err != nil {
		b.Fatal(err)
	}
	raw, err := proto.Dispense(name)
	if err != nil {
		b.Fatal(err)
	}
	pid, err := strconv.Atoi(c.ID())
	if err != nil {
		b.Fatal(err)
	}
	return raw, pid
}

// cpuTime is the CPU time used so far by this process and by the process
// pid (0: none).
func cpuTime(b *testing.B, pid int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	t := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	if pid == 0 {
		return t
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		b.Fatal(err)
	}
	// Fields 14 and 15, after the parenthesised command, are utime and
	// stime in clock ticks (100 per second on Linux).
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return t + time.Duration(utime+stime)*10*time.Millisecond
}

// BenchmarkProviderCall measures one PollScan-sized call three ways: a
// direct Go call, the SDK over go-plugin (the gateway's path), and a bare
// go-plugin echo. It reports the median latency, the throughput, and the
// CPU time per call of both processes together, which a busy machine
// disturbs less than wall time.
func BenchmarkProviderCall(b *testing.B) {
	const uuid = "5b0c7a52-1f0e-4b8e-9a4f-2f6b3c1d9e77"
	direct := newFake()
	client, clientPID := startPlugin(b, "fake", plugin.PluginSet{sdk.PluginName: &sdk.GRPCPlugin{}}, sdk.PluginName)
	echo, echoPID := startPlugin(b, "echo", plugin.PluginSet{"echo": echoPlugin{}}, "echo")
	sc, ec := client.(*sdk.Client), echo.(*grpc.ClientConn)

	paths := []struct {
		name string
		pid  int
		call func(context.Context) error
	}{
		{"direct", 0, func(ctx context.Context) error { _, err := direct.PollScan(ctx, uuid); return err }},
		{"sdk", clientPID, func(ctx context.Context) error { _, err := sc.PollScan(ctx, uuid); return err }},
		{"echo", echoPID, func(ctx context.Context) error {
			return ec.Invoke(ctx, echoMethod, wrapperspb.String(uuid), new(wrapperspb.StringValue))
		}},
	}
	for _, par := range []int{8, 64} {
		for _, p := range paths {
			b.Run(fmt.Sprintf("p%d/%s", par, p.name), func(b *testing.B) {
				runCalls(b, par, p.pid, p.call)
			})
		}
	}
}

func runCalls(b *testing.B, parallelism, pid int, call func(context.Context) error) {
	var (
		mu  sync.Mutex
		all []time.Duration
	)
	b.SetParallelism(parallelism)
	b.ResetTimer()
	cpu0 := cpuTime(b, pid)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		lat := make([]time.Duration, 0, 1024)
		for pb.Next() {
			t0 := time.Now()
			if err := call(ctx); err != nil {
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
	cpu := cpuTime(b, pid) - cpu0
	b.StopTimer()
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	b.ReportMetric(float64(all[len(all)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "calls/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
}
