package sdk

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Defaults for Serve.
const (
	DefaultMaxConcurrentStreams = 256
	DefaultMaxMessageSize       = 4 << 20
	DefaultShutdownTimeout      = 5 * time.Second
)

// ServeOption changes how Serve runs a provider.
type ServeOption func(*serveConfig)

type serveConfig struct {
	maxStreams      uint32
	maxMessage      int
	shutdownTimeout time.Duration
	logger          *slog.Logger
	parentInterval  time.Duration
}

func newServeConfig(opts []ServeOption) serveConfig {
	c := serveConfig{
		maxStreams:      DefaultMaxConcurrentStreams,
		maxMessage:      DefaultMaxMessageSize,
		shutdownTimeout: DefaultShutdownTimeout,
		parentInterval:  time.Second,
	}
	for _, o := range opts {
		o(&c)
	}
	if c.logger == nil {
		c.logger = Logger()
	}
	return c
}

// WithMaxConcurrentStreams caps the calls the plugin serves at once
// (default 256); further calls wait in the host's connection.
func WithMaxConcurrentStreams(n uint32) ServeOption {
	return func(c *serveConfig) {
		if n > 0 {
			c.maxStreams = n
		}
	}
}

// WithMaxMessageSize caps the size of a request or response in bytes
// (default 4 MiB).
func WithMaxMessageSize(n int) ServeOption {
	return func(c *serveConfig) {
		if n > 0 {
			c.maxMessage = n
		}
	}
}

// WithShutdownTimeout bounds how long SIGTERM waits for calls in flight
// before the server stops (default 5 s).
func WithShutdownTimeout(d time.Duration) ServeOption {
	return func(c *serveConfig) {
		if d > 0 {
			c.shutdownTimeout = d
		}
	}
}

// WithLogger replaces the logger Serve uses for its own records (panics,
// unclassified errors, shutdown). It must not write to standard output.
func WithLogger(l *slog.Logger) ServeOption {
	return func(c *serveConfig) {
		if l != nil {
			c.logger = l
		}
	}
}

// rpcs holds what the interceptors share: the calls in flight and
// whether the server is draining.
type rpcs struct {
	log      *slog.Logger
	inflight atomic.Int64
	draining atomic.Bool
}

// unary is the one interceptor of every call: it refuses new calls while
// draining, recovers a panic into an INTERNAL status (and a log line with
// the stack) so that the process keeps serving, and turns the provider's
// Go error into a status carrying its kind.
func (r *rpcs) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	r.inflight.Add(1)
	defer r.inflight.Add(-1)
	if r.draining.Load() {
		return nil, status.Error(codes.Unavailable, "plugin is shutting down")
	}
	defer func() {
		if v := recover(); v != nil {
			r.log.Error("panic in provider call", "method", info.FullMethod, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			resp, err = nil, kindStatus(Internal, "panic in provider call", "", nil)
		}
	}()
	resp, err = handler(ctx, req)
	if err != nil {
		st, classified := errorStatus(err)
		if !classified {
			r.log.Error("provider returned an unclassified error; answering INTERNAL", "method", info.FullMethod, "error", err)
		}
		return nil, st
	}
	return resp, nil
}

// unknownService answers calls to services that are not registered,
// those of undeclared capabilities, with NotSupported.
func unknownService(_ any, stream grpc.ServerStream) error {
	m, _ := grpc.MethodFromServerStream(stream)
	return kindStatus(NotSupported, "not supported: "+m, "", nil)
}

// grpcServer builds the gRPC server every provider runs on: capped
// streams and message sizes, the interceptor, NotSupported for unknown
// services. opts are go-plugin's (TLS).
func (r *rpcs) grpcServer(c serveConfig, opts []grpc.ServerOption) *grpc.Server {
	opts = append(opts,
		grpc.MaxConcurrentStreams(c.maxStreams),
		grpc.MaxRecvMsgSize(c.maxMessage),
		grpc.MaxSendMsgSize(c.maxMessage),
		grpc.ChainUnaryInterceptor(r.unary),
		grpc.UnknownServiceHandler(unknownService),
	)
	return grpc.NewServer(opts...)
}

// drain refuses new calls and waits up to timeout for those in flight.
// It reports whether every call finished.
func (r *rpcs) drain(timeout time.Duration) bool {
	r.draining.Store(true)
	deadline := time.Now().Add(timeout)
	for r.inflight.Load() > 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// hclogger is the logger go-plugin's server gets: JSON on the original
// standard error, which the host reads as log records.
func hclogger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       "go-plugin",
		Output:     stderr,
		JSONFormat: true,
		Level:      hclog.Info,
	})
}

// Serve runs p as a provider plugin: it speaks the go-plugin handshake
// on standard output, serves shiming.provider.v1 over gRPC (nothing
// else), and returns when the host stops it. It never returns for a
// provider that cannot be served: it logs why and exits with status 1.
//
// While serving, the process
//   - recovers a panic in a call into an INTERNAL error and keeps going;
//   - exits when its parent process changes, so a gateway killed with
//     SIGKILL leaves no plugin behind;
//   - on SIGTERM, refuses new calls, waits for those in flight (at most
//     the WithShutdownTimeout deadline) and stops;
//   - ignores SIGINT, as go-plugin does: Ctrl-C in a terminal reaches the
//     gateway, which stops its plugins itself.
//
// Nothing may be written to standard output, before or during Serve:
// the host reads its first line as the handshake.
func Serve(p Provider, opts ...ServeOption) {
	c := newServeConfig(opts)
	ctx, cancel := context.WithTimeout(context.Background(), infoTimeout)
	srv, err := newServer(ctx, p, nil)
	cancel()
	if err != nil {
		c.logger.Error("cannot serve provider", "error", err)
		os.Exit(1)
	}

	r := &rpcs{log: c.logger}
	var gs atomic.Pointer[grpc.Server]

	go watchParent(c.parentInterval, os.Getppid, func() {
		c.logger.Warn("host process is gone; plugin exiting")
		os.Exit(0)
	})

	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	go func() {
		<-term
		s := gs.Load()
		if s == nil {
			os.Exit(0)
		}
		// GracefulStop refuses new calls at once, but then waits for
		// go-plugin's stdio and broker streams too, which only end with
		// the host. So wait for the provider's own calls, with the
		// deadline, and then stop hard.
		go s.GracefulStop()
		if !r.drain(c.shutdownTimeout) {
			c.logger.Warn("calls still in flight at shutdown deadline", "in_flight", r.inflight.Load())
		}
		s.Stop()
	}()

	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake(),
		VersionedPlugins: map[int]plugin.PluginSet{
			ProtocolVersion: {PluginName: &GRPCPlugin{Impl: p, srv: srv}},
		},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			s := r.grpcServer(c, opts)
			gs.Store(s)
			return s
		},
		Logger: hclogger(),
	})
}

// watchParent calls gone, once, when getppid stops returning what it
// returned first. A process whose parent dies is re-parented (to init or
// a subreaper), so this notices a host that was killed without a chance
// to stop its plugins.
func watchParent(interval time.Duration, getppid func() int, gone func()) {
	first := getppid()
	t := time.NewTicker(interval)
	defer t.Stop()
	for range t.C {
		if getppid() != first {
			gone()
			return
		}
	}
}
