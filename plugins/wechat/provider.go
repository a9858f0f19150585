package wechat

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/handle"
)

// Version is the provider's version, reported by Info.
const Version = "1.0.0"

// Provider is the WeChat provider. The zero value is not usable: call New.
type Provider struct {
	log *slog.Logger
	now func() time.Time
	// st is nil until Configure succeeds; a new configuration replaces it
	// whole, so calls in flight finish with the one they started with.
	st atomic.Pointer[state]
}

// state is everything one configuration needs.
type state struct {
	cfg     config
	log     *slog.Logger
	now     func() time.Time
	client  *http.Client
	handles *handle.Sealer // seals QR-session uuids and face certify ids
	tokens  *tokenCache
}

// Option changes how New builds a Provider.
type Option func(*Provider)

// WithLogger sets the logger (default sdk.Logger()).
func WithLogger(l *slog.Logger) Option {
	return func(p *Provider) {
		if l != nil {
			p.log = l
		}
	}
}

// WithClock sets the clock (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(p *Provider) {
		if now != nil {
			p.now = now
		}
	}
}

// New returns an unconfigured provider.
func New(opts ...Option) *Provider {
	p := &Provider{now: time.Now}
	for _, o := range opts {
		o(p)
	}
	if p.log == nil {
		p.log = sdk.Logger()
	}
	return p
}

// Info names the provider and declares scan login and face verification.
func (p *Provider) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{
		Name:            "wechat",
		Version:         Version,
		ProtocolVersion: sdk.ProtocolVersion,
		Capabilities:    []sdk.Capability{sdk.CapabilityScanLogin, sdk.CapabilityFaceVerification},
		Description:     "微信网站应用扫码登录与微信人脸核身（WeChat website QR login and real-name face verification）",
	}, nil
}

// Configure validates the configuration (see the package documentation)
// and reports every bad field at once. It does not call WeChat.
func (p *Provider) Configure(_ context.Context, raw json.RawMessage) error {
	cfg, err := parseConfig(raw)
	if err != nil {
		return err
	}
	handles, err := handle.NewSealer(cfg.handleKey, handleLabel)
	if err != nil {
		return fmt.Errorf("wechat: configure: %w", err)
	}
	old := p.st.Swap(&state{
		cfg:     cfg,
		log:     p.log,
		now:     p.now,
		client:  newHTTPClient(cfg.httpTimeout),
		handles: handles,
		tokens:  &tokenCache{lock: make(chan struct{}, 1)},
	})
	if old != nil {
		old.client.CloseIdleConnections()
	}
	p.log.Info("wechat configured", "app_id", cfg.appID, "face_app_id", cfg.faceAppID(), "api_base", cfg.apiBase)
	return nil
}

// state returns the current configuration, or InvalidConfig before
// Configure succeeded.
func (p *Provider) state() (*state, error) {
	st := p.st.Load()
	if st == nil {
		return nil, sdk.E(sdk.InvalidConfig, "wechat: not configured")
	}
	return st, nil
}

func newHTTPClient(timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &http.Client{
		Timeout:   timeout,
		Transport: tr,
		// WeChat's APIs do not redirect; a redirect is an answer we do
		// not understand, not something to follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

var (
	_ sdk.Provider     = (*Provider)(nil)
	_ sdk.ScanLogin    = (*Provider)(nil)
	_ sdk.FaceVerifier = (*Provider)(nil)
)
