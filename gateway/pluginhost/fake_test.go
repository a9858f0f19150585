package pluginhost_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk"
)

// The test binary doubles as a plugin: run as "<test binary> plugin
// NAME" it serves fakePlugin named NAME instead of running tests. Its
// behaviour comes from the environment the Spec passes:
//
//	FAKE_MODE     ""                normal
//	              "stdout"          writes to standard output before Serve
//	              "exit_at_start"   exits before the handshake
//	              "hang_configure"  never answers Configure
//	              "crash_in_call"   the first PollScan and the first
//	                                ExchangeCode kill the process mid-call
//	FAKE_VERSION  the version reported (default 1.0.0)
//	FAKE_CAPS     comma-separated capabilities declared (default all)
//
// Configure takes {"count_dir": DIR}: every call appends a line to
// DIR/<method>, so a test can count calls that reached the plugin.
const (
	modeEnv    = "FAKE_MODE"
	versionEnv = "FAKE_VERSION"
	capsEnv    = "FAKE_CAPS"
)

func servePlugin(name string) {
	mode := os.Getenv(modeEnv)
	switch mode {
	case "stdout":
		fmt.Println("hello from a plugin that prints")
	case "exit_at_start":
		os.Exit(3)
	}
	version := os.Getenv(versionEnv)
	if version == "" {
		version = "1.0.0"
	}
	caps := sdk.Capabilities()
	if s := os.Getenv(capsEnv); s != "" {
		caps = nil
		for _, c := range sdk.Capabilities() {
			if strings.Contains(s, c.String()) {
				caps = append(caps, c)
			}
		}
	}
	sdk.Serve(&fakePlugin{name: name, version: version, mode: mode, caps: caps})
}

type fakePlugin struct {
	name, version, mode string
	caps                []sdk.Capability
	countDir            string
}

func (f *fakePlugin) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: f.name, Version: f.version, Capabilities: f.caps}, nil
}

func (f *fakePlugin) Configure(_ context.Context, config json.RawMessage) error {
	if f.mode == "hang_configure" {
		select {}
	}
	var c struct {
		CountDir string `json:"count_dir"`
	}
	if err := json.Unmarshal(config, &c); err != nil {
		return sdk.Fields(sdk.InvalidConfig, "config is not a JSON object", "config")
	}
	if c.CountDir == "bad" {
		return sdk.Fields(sdk.InvalidConfig, "count_dir is not a directory", "count_dir")
	}
	f.countDir = c.CountDir
	sdk.Logger().Info("fake configured", "mode", f.mode)
	return nil
}

// count notes a call; crash kills the process the first time a method
// is called in crash_in_call mode.
func (f *fakePlugin) count(method string) {
	if f.countDir == "" {
		return
	}
	fh, err := os.OpenFile(filepath.Join(f.countDir, method), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err == nil {
		_, _ = fh.WriteString("call\n")
		_ = fh.Close()
	}
	if f.mode != "crash_in_call" {
		return
	}
	marker := filepath.Join(f.countDir, "crashed_"+method)
	if _, err := os.Stat(marker); errors.Is(err, os.ErrNotExist) {
		_ = os.WriteFile(marker, nil, 0o600)
		os.Exit(2)
	}
}

func (f *fakePlugin) BeginScan(_ context.Context, req sdk.BeginScanRequest) (sdk.ScanSession, error) {
	f.count("begin_scan")
	return sdk.ScanSession{UUID: "u-" + req.State, QRContent: "qr", ExpiresAt: time.Now().Add(time.Minute)}, nil
}

func (f *fakePlugin) PollScan(_ context.Context, uuid string) (sdk.ScanStatus, error) {
	f.count("poll_scan")
	return sdk.ScanStatus{State: sdk.ScanConfirmed, Code: "c-" + uuid}, nil
}

func (f *fakePlugin) ScanCallback(_ context.Context, uuid string, q map[string]string) (sdk.ScanStatus, error) {
	f.count("scan_callback")
	return sdk.ScanStatus{State: sdk.ScanConfirmed, Code: q["code"]}, nil
}

func (f *fakePlugin) ExchangeCode(_ context.Context, uuid, code string) (sdk.Identity, error) {
	f.count("exchange_code")
	return sdk.Identity{Subject: "s-" + code}, nil
}

// CheckIdentity by name: a kind's name returns that kind; "panic"
// panics; "slow" answers after half a second.
func (f *fakePlugin) CheckIdentity(ctx context.Context, name, _ string) (string, error) {
	f.count("check_identity")
	for _, k := range sdk.Kinds() {
		if name == k.String() {
			return "", &sdk.Error{Kind: k, VendorCode: "v-" + name, Fields: []string{"f-" + name}, Message: "kind " + name}
		}
	}
	switch name {
	case "panic":
		panic("fake plugin bug")
	case "slow":
		select {
		case <-time.After(500 * time.Millisecond):
			return "slow-ok", nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	return "ref-" + name, nil
}

func (f *fakePlugin) BeginFace(context.Context, sdk.FaceRequest) (sdk.FaceSession, error) {
	f.count("begin_face")
	return sdk.FaceSession{CertifyID: "c1"}, nil
}

func (f *fakePlugin) QueryFace(context.Context, string) (sdk.FaceStatus, error) {
	f.count("query_face")
	return sdk.FaceStatus{Result: sdk.FacePassed}, nil
}

func (f *fakePlugin) SendCode(_ context.Context, phone, purpose string) (sdk.CodeTicket, error) {
	f.count("send_code")
	return sdk.CodeTicket{Ticket: phone + purpose}, nil
}

func (f *fakePlugin) VerifyCode(context.Context, string, string, string, string) error {
	f.count("verify_code")
	return nil
}

func (f *fakePlugin) CheckOwner(context.Context, string, string, string) error {
	f.count("check_owner")
	return nil
}

func (f *fakePlugin) SendNotice(_ context.Context, _ string, n sdk.Notice) error {
	f.count("send_notice")
	if n.Kind != sdk.NoticePhoneChanged {
		return sdk.Fields(sdk.InvalidRequest, "unknown notice kind", "kind")
	}
	return nil
}

var (
	_ sdk.ScanLogin         = (*fakePlugin)(nil)
	_ sdk.IdentityChecker   = (*fakePlugin)(nil)
	_ sdk.FaceVerifier      = (*fakePlugin)(nil)
	_ sdk.PhoneVerifier     = (*fakePlugin)(nil)
	_ sdk.PhoneOwnerChecker = (*fakePlugin)(nil)
	_ sdk.PhoneNotifier     = (*fakePlugin)(nil)
)
