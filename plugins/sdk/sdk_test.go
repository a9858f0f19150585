package sdk_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shiming-id/shiming/plugins/sdk"
)

// pluginEnv tells a re-executed test binary to act as a plugin.
const pluginEnv = "SHIMING_SDK_TEST_PLUGIN"

func TestMain(m *testing.M) {
	switch os.Getenv(pluginEnv) {
	case "":
		os.Exit(m.Run())
	case "fake":
		// Calls named "slow" finish shortly after SIGTERM, so that the
		// test can see the SDK drain them.
		f := newFake()
		f.slow = make(chan struct{})
		f.onSlow = func() { sdk.Logger().Info("slow call started") }
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM)
		go func() { <-term; time.Sleep(100 * time.Millisecond); close(f.slow) }()
		sdk.Serve(f, sdk.WithShutdownTimeout(10*time.Second))
	case "echo":
		serveEcho()
	default:
		os.Exit(2)
	}
	os.Exit(0)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestEveryKindSurvivesTheWire(t *testing.T) {
	c := sdk.ServeTest(t, newFake())
	ctx := ctxT(t)
	for _, k := range sdk.Kinds() {
		t.Run(k.String(), func(t *testing.T) {
			_, err := c.CheckIdentity(ctx, k.String(), "x")
			var e *sdk.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not a *sdk.Error", err, err)
			}
			if e.Kind != k || e.VendorCode != "v-"+k.String() || e.Message != "msg "+k.String() {
				t.Errorf("got kind %v vendor code %q message %q", e.Kind, e.VendorCode, e.Message)
			}
			if want := []string{"f1_" + k.String(), "f2"}; !slices.Equal(e.Fields, want) {
				t.Errorf("fields = %v, want %v", e.Fields, want)
			}
			if sdk.KindOf(err) != k || sdk.IsTransport(ctx, err) {
				t.Errorf("KindOf = %v, IsTransport = %v", sdk.KindOf(err), sdk.IsTransport(ctx, err))
			}
		})
	}
}

func TestErrorMapping(t *testing.T) {
	logs := &syncWriter{w: &bytes.Buffer{}}
	c := sdk.ServeTest(t, newFake(), sdk.WithLogger(slog.New(sdk.NewLogHandler(logs, slog.LevelInfo))))

	t.Run("plain error is internal", func(t *testing.T) {
		_, err := c.CheckIdentity(ctxT(t), "plain", "x")
		if sdk.KindOf(err) != sdk.Internal {
			t.Fatalf("kind = %v (%v)", sdk.KindOf(err), err)
		}
		if strings.Contains(err.Error(), "something broke") {
			t.Error("the text of an unclassified error crossed the wire")
		}
	})
	t.Run("deadline inside the plugin", func(t *testing.T) {
		_, err := c.CheckIdentity(ctxT(t), "deadline", "x")
		if sdk.KindOf(err) != sdk.VendorUnavailable || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v (kind %v)", err, sdk.KindOf(err))
		}
	})
	t.Run("caller deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		_, err := c.CheckIdentity(ctx, "slow", "x")
		if !errors.Is(err, context.DeadlineExceeded) || sdk.KindOf(err) != sdk.VendorUnavailable {
			t.Fatalf("got %v (kind %v)", err, sdk.KindOf(err))
		}
	})
	t.Run("caller cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(50*time.Millisecond, cancel)
		_, err := c.CheckIdentity(ctx, "slow", "x")
		if !errors.Is(err, context.Canceled) || sdk.KindOf(err) != sdk.Cancelled {
			t.Fatalf("got %v (kind %v)", err, sdk.KindOf(err))
		}
		if sdk.IsTransport(ctx, err) {
			t.Error("a call cancelled by its caller counts as a transport failure")
		}
	})
	t.Run("panic is recovered", func(t *testing.T) {
		_, err := c.CheckIdentity(ctxT(t), "panic", "x")
		if sdk.KindOf(err) != sdk.Internal {
			t.Fatalf("kind = %v (%v)", sdk.KindOf(err), err)
		}
		ref, err := c.CheckIdentity(ctxT(t), "after", "1")
		if err != nil || ref != "ref-AFTER-1" {
			t.Fatalf("call after panic = %q, %v", ref, err)
		}
	})
	out := logs.String()
	for _, want := range []string{`"@message":"panic in provider call"`, "provider bug", "goroutine ", `"@message":"provider returned an unclassified error; answering INTERNAL"`, "something broke"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

func TestUndeclaredCapabilities(t *testing.T) {
	// The fake implements everything but declares two capabilities.
	c := sdk.ServeTest(t, newFake(sdk.CapabilityIdentityCheck, sdk.CapabilityPhoneOwner))
	ctx := ctxT(t)
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(info.Capabilities, []sdk.Capability{sdk.CapabilityIdentityCheck, sdk.CapabilityPhoneOwner}) || info.ProtocolVersion != sdk.ProtocolVersion {
		t.Fatalf("info = %+v", info)
	}
	calls := map[string]func() error{
		"begin_scan":    func() error { _, err := c.BeginScan(ctx, sdk.BeginScanRequest{}); return err },
		"poll_scan":     func() error { _, err := c.PollScan(ctx, "u"); return err },
		"scan_callback": func() error { _, err := c.ScanCallback(ctx, "u", nil); return err },
		"exchange_code": func() error { _, err := c.ExchangeCode(ctx, "u", "c"); return err },
		"begin_face":    func() error { _, err := c.BeginFace(ctx, sdk.FaceRequest{}); return err },
		"query_face":    func() error { _, err := c.QueryFace(ctx, "c"); return err },
		"send_code":     func() error { _, err := c.SendCode(ctx, "13800138000", "login"); return err },
		"verify_code":   func() error { return c.VerifyCode(ctx, "t", "13800138000", "login", "1") },
		"send_notice": func() error {
			return c.SendNotice(ctx, "13800138000", sdk.Notice{Kind: sdk.NoticePhoneChanged, Params: map[string]string{"phone": "139****9000"}})
		},
	}
	for name, call := range calls {
		if err := call(); sdk.KindOf(err) != sdk.NotSupported {
			t.Errorf("%s: got %v, want NotSupported", name, err)
		}
	}
	if _, err := c.CheckIdentity(ctx, "张三", "1"); err != nil {
		t.Errorf("declared identity check: %v", err)
	}
	if err := c.CheckOwner(ctx, "13800138000", "张三", "1"); err != nil {
		t.Errorf("declared owner check: %v", err)
	}
}

// declaresWhatItLacks declares face verification without implementing it.
type declaresWhatItLacks struct{}

func (declaresWhatItLacks) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "liar", Version: "1", Capabilities: []sdk.Capability{sdk.CapabilityFaceVerification}}, nil
}
func (declaresWhatItLacks) Configure(context.Context, json.RawMessage) error { return nil }

func TestGRPCServerRefusesUnimplementedCapability(t *testing.T) {
	p := &sdk.GRPCPlugin{Impl: declaresWhatItLacks{}}
	err := p.GRPCServer(nil, nil)
	if err == nil || !strings.Contains(err.Error(), "face_verification") {
		t.Fatalf("err = %v", err)
	}
}

func TestRoundTrip(t *testing.T) {
	c := sdk.ServeTest(t, newFake())
	ctx := ctxT(t)

	if err := c.Configure(ctx, json.RawMessage(`{"app_id":"wx1"}`)); err != nil {
		t.Fatalf("configure: %v", err)
	}
	err := c.Configure(ctx, json.RawMessage(`{}`))
	var e *sdk.Error
	if !errors.As(err, &e) || e.Kind != sdk.InvalidConfig || !slices.Equal(e.Fields, []string{"app_id"}) {
		t.Fatalf("bad configure: %v", err)
	}
	h, err := c.Health(ctx)
	if err != nil || h != (sdk.Health{Status: sdk.Degraded, Message: "vendor slow"}) {
		t.Fatalf("health = %+v, %v", h, err)
	}
	ss, err := c.BeginScan(ctx, sdk.BeginScanRequest{CallbackURL: "https://gw/cb", State: "s1"})
	if err != nil || ss.UUID != "u-s1" || ss.QRContent != "https://gw/cb" || !ss.ExpiresAt.Equal(fixedTime) {
		t.Fatalf("begin scan = %+v, %v", ss, err)
	}
	st, err := c.PollScan(ctx, "u1")
	if err != nil || st != (sdk.ScanStatus{State: sdk.ScanConfirmed, Code: "code-u1"}) {
		t.Fatalf("poll = %+v, %v", st, err)
	}
	st, err = c.ScanCallback(ctx, "u1", map[string]string{"code": "c9", "state": "s1"})
	if err != nil || st.Code != "c9@u1" {
		t.Fatalf("callback = %+v, %v", st, err)
	}
	id, err := c.ExchangeCode(ctx, "u1", "c9")
	if err != nil {
		t.Fatal(err)
	}
	want := sdk.Identity{Subject: "sub-c9", SubjectIDs: map[string]string{"openid": "o-1", "unionid": "u-1"}, DisplayName: "微信用户",
		Name: "张三", IDNumber: "11010519491231002X", Phone: "13800138000", Level: sdk.LevelNameID, Reference: "ref-u1"}
	if id.Subject != want.Subject || id.Name != want.Name || id.IDNumber != want.IDNumber || id.Phone != want.Phone ||
		id.Level != want.Level || id.Reference != want.Reference || id.DisplayName != want.DisplayName ||
		len(id.SubjectIDs) != 2 || id.SubjectIDs["unionid"] != "u-1" {
		t.Fatalf("identity = %+v", id)
	}
	fs, err := c.BeginFace(ctx, sdk.FaceRequest{Name: "张三", IDNumber: "X", Subject: "o-1", ReturnURL: "https://r"})
	if err != nil || fs.CertifyID != "c-o-1" || fs.QRContent != "https://r?n=张三X" || !fs.ExpiresAt.Equal(fixedTime) {
		t.Fatalf("begin face = %+v, %v", fs, err)
	}
	fst, err := c.QueryFace(ctx, "c1")
	if err != nil || fst != (sdk.FaceStatus{Result: sdk.FaceFailed, Reason: sdk.LivenessFailed, VendorCode: "Z5120", Reference: "r-c1"}) {
		t.Fatalf("query face = %+v, %v", fst, err)
	}
	tk, err := c.SendCode(ctx, "13800138000", "login")
	if err != nil || tk.Ticket != "13800138000/login" || !tk.ExpiresAt.Equal(fixedTime) {
		t.Fatalf("send code = %+v, %v", tk, err)
	}
	if err := c.VerifyCode(ctx, tk.Ticket, "13800138000", "login", "123456"); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if err := c.VerifyCode(ctx, tk.Ticket, "13800138000", "login", "000000"); sdk.KindOf(err) != sdk.CodeInvalid {
		t.Fatalf("wrong code: %v", err)
	}
	err = c.CheckOwner(ctx, "13800138000", "李四", "X")
	if sdk.KindOf(err) != sdk.NameIDMismatch || sdk.VendorCodeOf(err) != "3" {
		t.Fatalf("owner mismatch: %v", err)
	}
	// The fake answers a known notice with RateLimited and a vendor code
	// that echoes what it received.
	err = c.SendNotice(ctx, "13800138000", sdk.Notice{Kind: sdk.NoticePhoneChanged, Params: map[string]string{"phone": "139****9000"}})
	if sdk.KindOf(err) != sdk.RateLimited || sdk.VendorCodeOf(err) != "notice:13800138000:139****9000" {
		t.Fatalf("send notice: %v", err)
	}
	err = c.SendNotice(ctx, "13800138000", sdk.Notice{Kind: "unknown"})
	if e := (*sdk.Error)(nil); !errors.As(err, &e) || e.Kind != sdk.InvalidRequest || !slices.Equal(e.Fields, []string{"kind"}) {
		t.Fatalf("unknown notice kind: %v", err)
	}
}

func TestStatusWithoutDetail(t *testing.T) {
	// What a non-Go plugin, or gRPC itself, may answer.
	live := context.Background()
	cases := []struct {
		name      string
		code      codes.Code
		kind      sdk.Kind
		transport bool
		is        error
	}{
		{"unavailable", codes.Unavailable, sdk.VendorUnavailable, true, nil},
		{"deadline", codes.DeadlineExceeded, sdk.VendorUnavailable, false, context.DeadlineExceeded},
		{"canceled with live context", codes.Canceled, sdk.Cancelled, true, context.Canceled},
		{"unimplemented", codes.Unimplemented, sdk.NotSupported, false, nil},
		{"resource exhausted", codes.ResourceExhausted, sdk.RateLimited, false, nil},
		{"invalid argument", codes.InvalidArgument, sdk.InvalidRequest, false, nil},
		{"unknown", codes.Unknown, sdk.Internal, false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := sdk.DecodeStatusForTest(status.Error(tc.code, "x"))
			if sdk.KindOf(err) != tc.kind {
				t.Errorf("kind = %v, want %v", sdk.KindOf(err), tc.kind)
			}
			if sdk.IsTransport(live, err) != tc.transport {
				t.Errorf("IsTransport = %v", !tc.transport)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("%v is not %v", err, tc.is)
			}
			if status.Code(err) != tc.code {
				t.Errorf("status.Code = %v", status.Code(err))
			}
		})
	}
}

// syncWriter serialises writes from the server's goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}
