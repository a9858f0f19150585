package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	pb "github.com/shiming-id/shiming/plugins/sdk/proto/providerv1"
)

func TestRedact(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"id number", "id=11010519491231002X.", "id=110***********002X."},
		{"id number lower x", "11010519491231002x", "110***********002x"},
		{"id number all digits", "a 430102199003071234 b", "a 430***********1234 b"},
		{"phone", "tel 13800138000", "tel 138****8000"},
		{"two", "13800138000,13900139000", "138****8000,139****9000"},
		{"eleven digits not a phone", "23800138000", "23800138000"},
		{"other numbers", "order 12345 at 2026-03-01", "order 12345 at 2026-03-01"},
		{"longer run", "1380013800012", "1380013800012"},
		{"empty", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Redact(tc.in); got != tc.want {
				t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzRedact(f *testing.F) {
	f.Add("11010519491231002X 13800138000")
	f.Fuzz(func(t *testing.T, s string) {
		got := Redact(s)
		if len(got) != len(s) {
			t.Fatalf("Redact changed the length: %q -> %q", s, got)
		}
		if Redact(got) != got {
			t.Fatalf("Redact is not idempotent on %q", s)
		}
	})
}

func TestLogHandlerSpeaksHclogJSON(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(NewLogHandler(&buf, slog.LevelDebug))
	l.Warn("vendor said 13800138000", "id_number", "11010519491231002X", "error", errors.New("bad 13800138000"), "n", 3)
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("not JSON: %v: %s", err, buf.String())
	}
	if m["@level"] != "warn" || m["@message"] != "vendor said 138****8000" {
		t.Errorf("level/message = %v / %v", m["@level"], m["@message"])
	}
	ts, _ := m["@timestamp"].(string)
	if _, err := time.Parse(hclogTime, ts); err != nil {
		t.Errorf("@timestamp %q: %v", ts, err)
	}
	if m["id_number"] != "110***********002X" || m["error"] != "bad 138****8000" || m["n"] != float64(3) {
		t.Errorf("attrs = %v", m)
	}
	for _, k := range []string{"time", "level", "msg"} {
		if _, ok := m[k]; ok {
			t.Errorf("key %q left in the record", k)
		}
	}
}

func TestWatchParent(t *testing.T) {
	var ppid atomic.Int64
	ppid.Store(4242)
	gone := make(chan struct{})
	go watchParent(time.Millisecond, func() int { return int(ppid.Load()) }, func() { close(gone) })
	select {
	case <-gone:
		t.Fatal("gone before the parent changed")
	case <-time.After(20 * time.Millisecond):
	}
	ppid.Store(1)
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Fatal("parent change not noticed")
	}
}

func TestDrainWaitsForCallsInFlight(t *testing.T) {
	r := &rpcs{log: slog.New(slog.DiscardHandler)}
	r.inflight.Add(1)
	if r.drain(20 * time.Millisecond) {
		t.Fatal("drain reported success with a call in flight")
	}
	go func() { time.Sleep(10 * time.Millisecond); r.inflight.Add(-1) }()
	if !r.drain(10 * time.Second) {
		t.Fatal("drain gave up on a call that finished")
	}
}

// pollProvider answers PollScan only, for BenchmarkLayers.
type pollProvider struct{}

func (pollProvider) Info(context.Context) (Info, error) {
	return Info{Name: "poll", Version: "1", Capabilities: []Capability{CapabilityScanLogin}}, nil
}
func (pollProvider) Configure(context.Context, json.RawMessage) error { return nil }
func (pollProvider) BeginScan(context.Context, BeginScanRequest) (ScanSession, error) {
	return ScanSession{}, nil
}
func (pollProvider) PollScan(_ context.Context, uuid string) (ScanStatus, error) {
	return ScanStatus{State: ScanConfirmed, Code: "code-" + uuid}, nil
}
func (pollProvider) ScanCallback(context.Context, string, map[string]string) (ScanStatus, error) {
	return ScanStatus{}, nil
}
func (pollProvider) ExchangeCode(context.Context, string, string) (Identity, error) {
	return Identity{}, nil
}

// BenchmarkLayers measures, without the transport, the work the SDK adds
// to a PollScan on both sides of the wire (request and response
// encoding, the interceptor, the adapters), next to the same encoding
// work for the bare echo of BenchmarkProviderCall.
func BenchmarkLayers(b *testing.B) {
	const uuid = "5b0c7a52-1f0e-4b8e-9a4f-2f6b3c1d9e77"
	ctx := context.Background()
	srv, err := newServer(ctx, pollProvider{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	r := &rpcs{log: slog.New(slog.DiscardHandler)}
	info := &grpc.UnaryServerInfo{FullMethod: "/shiming.provider.v1.ScanLogin/PollScan"}
	b.Run("sdk", func(b *testing.B) {
		for b.Loop() {
			// Host: build and encode the request.
			in, _ := proto.Marshal(&pb.PollScanRequest{Uuid: uuid})
			// Plugin: decode, interceptor, adapter, encode the answer.
			req := new(pb.PollScanRequest)
			_ = proto.Unmarshal(in, req)
			resp, _ := r.unary(ctx, req, info, func(ctx context.Context, req any) (any, error) {
				return srv.PollScan(ctx, req.(*pb.PollScanRequest))
			})
			out, _ := proto.Marshal(resp.(*pb.ScanStatus))
			// Host: decode and convert.
			st := new(pb.ScanStatus)
			_ = proto.Unmarshal(out, st)
			_ = ScanStatus{State: ScanState(st.GetState()), Code: st.GetCode()}
			_ = statusToError(nil)
		}
	})
	b.Run("echo", func(b *testing.B) {
		for b.Loop() {
			in, _ := proto.Marshal(wrapperspb.String(uuid))
			req := new(wrapperspb.StringValue)
			_ = proto.Unmarshal(in, req)
			out, _ := proto.Marshal(req)
			resp := new(wrapperspb.StringValue)
			_ = proto.Unmarshal(out, resp)
		}
	})
}

// TestCapabilitiesMatchTheProto checks that every capability has the
// number and name of its value in the proto enum, which only grows.
func TestCapabilitiesMatchTheProto(t *testing.T) {
	caps := Capabilities()
	if len(caps) != len(pb.Capability_name)-1 {
		t.Fatalf("%d capabilities, the proto has %d", len(caps), len(pb.Capability_name)-1)
	}
	for i, c := range caps {
		want := "CAPABILITY_" + strings.ToUpper(c.String())
		if int(c) != i+1 || pb.Capability_name[int32(c)] != want {
			t.Errorf("capability %d (%s): proto has %q there, want %q", int(c), c, pb.Capability_name[int32(c)], want)
		}
	}
}
