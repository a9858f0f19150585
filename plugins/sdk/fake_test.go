package sdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk"
)

// fake is a provider for the SDK's own tests. It implements every
// capability interface and declares those in caps. CheckIdentity is the
// switchboard: the name chooses what happens.
type fake struct {
	caps  []sdk.Capability
	calls atomic.Int64
	// slow is closed to release calls named "slow"; nil means they wait
	// for their context. onSlow, if set, runs when such a call starts.
	slow   chan struct{}
	onSlow func()
}

func newFake(caps ...sdk.Capability) *fake {
	if len(caps) == 0 {
		caps = sdk.Capabilities()
	}
	return &fake{caps: caps}
}

var fixedTime = time.Date(2026, 3, 1, 8, 30, 0, 0, time.UTC)

func (f *fake) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "fake", Version: "1.2.3", Capabilities: f.caps, Description: "SDK test double"}, nil
}

func (f *fake) Configure(_ context.Context, config json.RawMessage) error {
	var c struct {
		AppID string `json:"app_id"`
	}
	if err := json.Unmarshal(config, &c); err != nil || c.AppID == "" {
		return sdk.Fields(sdk.InvalidConfig, "app_id is required", "app_id")
	}
	return nil
}

func (f *fake) Health(context.Context) (sdk.Health, error) {
	return sdk.Health{Status: sdk.Degraded, Message: "vendor slow"}, nil
}

func (f *fake) BeginScan(_ context.Context, req sdk.BeginScanRequest) (sdk.ScanSession, error) {
	return sdk.ScanSession{UUID: "u-" + req.State, QRContent: req.CallbackURL, ExpiresAt: fixedTime}, nil
}

func (f *fake) PollScan(_ context.Context, uuid string) (sdk.ScanStatus, error) {
	f.calls.Add(1)
	if uuid == "" {
		return sdk.ScanStatus{}, sdk.E(sdk.UUIDInvalid, "empty uuid")
	}
	return sdk.ScanStatus{State: sdk.ScanConfirmed, Code: "code-" + uuid}, nil
}

func (f *fake) ScanCallback(_ context.Context, uuid string, query map[string]string) (sdk.ScanStatus, error) {
	return sdk.ScanStatus{State: sdk.ScanConfirmed, Code: query["code"] + "@" + uuid}, nil
}

func (f *fake) ExchangeCode(_ context.Context, uuid, code string) (sdk.Identity, error) {
	return sdk.Identity{
		Subject:     "sub-" + code,
		SubjectIDs:  map[string]string{"openid": "o-1", "unionid": "u-1"},
		DisplayName: "微信用户",
		Name:        "张三",
		IDNumber:    "11010519491231002X",
		Phone:       "13800138000",
		Level:       sdk.LevelNameID,
		Reference:   "ref-" + uuid,
	}, nil
}

// CheckIdentity behaves by name: a kind's name returns that kind with a
// vendor code and fields; "plain" a plain error; "panic" panics;
// "deadline" a wrapped context.DeadlineExceeded; "slow" waits for f.slow
// or the context; "stdout" writes to standard output.
func (f *fake) CheckIdentity(ctx context.Context, name, idNumber string) (string, error) {
	f.calls.Add(1)
	for _, k := range sdk.Kinds() {
		if name == k.String() {
			return "", &sdk.Error{Kind: k, VendorCode: "v-" + name, Fields: []string{"f1_" + name, "f2"}, Message: "msg " + name}
		}
	}
	switch name {
	case "plain":
		return "", errors.New("something broke")
	case "panic":
		panic("provider bug")
	case "deadline":
		return "", fmt.Errorf("vendor call: %w", context.DeadlineExceeded)
	case "slow":
		if f.onSlow != nil {
			f.onSlow()
		}
		select {
		case <-f.slow:
			return "slow-ok", nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	case "stdout":
		fmt.Println("a provider that prints")
		return "printed", nil
	}
	return "ref-" + strings.ToUpper(name) + "-" + idNumber, nil
}

func (f *fake) BeginFace(_ context.Context, req sdk.FaceRequest) (sdk.FaceSession, error) {
	return sdk.FaceSession{CertifyID: "c-" + req.Subject, QRContent: req.ReturnURL + "?n=" + req.Name + req.IDNumber, ExpiresAt: fixedTime}, nil
}

func (f *fake) QueryFace(_ context.Context, certifyID string) (sdk.FaceStatus, error) {
	return sdk.FaceStatus{Result: sdk.FaceFailed, Reason: sdk.LivenessFailed, VendorCode: "Z5120", Reference: "r-" + certifyID}, nil
}

func (f *fake) SendCode(_ context.Context, phone, purpose string) (sdk.CodeTicket, error) {
	return sdk.CodeTicket{Ticket: phone + "/" + purpose, ExpiresAt: fixedTime}, nil
}

func (f *fake) VerifyCode(_ context.Context, ticket, phone, purpose, code string) error {
	if ticket != phone+"/"+purpose {
		return sdk.E(sdk.InvalidRequest, "ticket for another phone or purpose")
	}
	if code != "123456" {
		return sdk.E(sdk.CodeInvalid, "wrong code")
	}
	return nil
}

func (f *fake) CheckOwner(_ context.Context, phone, name, idNumber string) error {
	if name != "张三" {
		return sdk.Vendor(sdk.NameIDMismatch, "3", "owner mismatch")
	}
	return nil
}

// SendNotice answers InvalidRequest for a kind other than
// phone_changed, and names its param in the error otherwise, so that the
// round trip shows what reached the provider.
func (f *fake) SendNotice(_ context.Context, phone string, n sdk.Notice) error {
	if n.Kind != sdk.NoticePhoneChanged {
		return sdk.Fields(sdk.InvalidRequest, "unknown notice kind", "kind")
	}
	return sdk.Vendor(sdk.RateLimited, "notice:"+phone+":"+n.Params["phone"], "notice received")
}

var (
	_ sdk.Provider          = (*fake)(nil)
	_ sdk.HealthChecker     = (*fake)(nil)
	_ sdk.ScanLogin         = (*fake)(nil)
	_ sdk.IdentityChecker   = (*fake)(nil)
	_ sdk.FaceVerifier      = (*fake)(nil)
	_ sdk.PhoneVerifier     = (*fake)(nil)
	_ sdk.PhoneOwnerChecker = (*fake)(nil)
	_ sdk.PhoneNotifier     = (*fake)(nil)
)
