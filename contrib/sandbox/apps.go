package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"

	"github.com/shiming-id/shiming/contrib/sandbox/alipay"
	"github.com/shiming-id/shiming/contrib/sandbox/ctid"
	"github.com/shiming-id/shiming/contrib/sandbox/govidp"
	"github.com/shiming-id/shiming/contrib/sandbox/sms"
	"github.com/shiming-id/shiming/contrib/sandbox/wechat"
)

// Apps are the credentials the simulated vendors know: the apps,
// organisations, keys and clients a plugin must present.
type Apps struct {
	WeChat      []wechat.App    `yaml:"wechat"`
	Alipay      []alipay.App    `yaml:"alipay"`
	CTID        []ctid.Org      `yaml:"ctid"`
	SMS         []sms.Key       `yaml:"sms"`
	OIDCClients []govidp.Client `yaml:"oidc_clients"`
}

// AppsFile is the name of the generated credentials file in a data folder.
const AppsFile = "sandbox-apps.yaml"

// Demo names given to generated credentials.
const (
	DemoAppName  = "实名网关（演示）"
	DemoSignName = "实名网关"
	// DemoOIDCClientID is the government IdP client of the embedded gateway.
	DemoOIDCClientID = "shiming-gateway"
)

// DemoOIDCRedirectURIs are the callbacks the generated IdP client allows:
// the embedded gateway's default listener.
func DemoOIDCRedirectURIs() []string {
	return []string{"http://127.0.0.1:8080/oidc/callback", "http://localhost:8080/oidc/callback"}
}

// GenerateApps makes one demo app per vendor with fresh random secrets
// and RSA 2048 key pairs.
func GenerateApps() (Apps, error) {
	wx, err := wechat.GenerateApp(DemoAppName)
	if err != nil {
		return Apps{}, fmt.Errorf("sandbox: generate wechat app: %w", err)
	}
	ali, err := alipay.GenerateApp(DemoAppName)
	if err != nil {
		return Apps{}, fmt.Errorf("sandbox: generate alipay app: %w", err)
	}
	org, err := ctid.GenerateOrg(DemoAppName)
	if err != nil {
		return Apps{}, fmt.Errorf("sandbox: generate ctid org: %w", err)
	}
	key, err := sms.GenerateKey(DemoSignName)
	if err != nil {
		return Apps{}, fmt.Errorf("sandbox: generate sms key: %w", err)
	}
	secret, err := randomSecret()
	if err != nil {
		return Apps{}, err
	}
	return Apps{
		WeChat: []wechat.App{wx}, Alipay: []alipay.App{ali}, CTID: []ctid.Org{org}, SMS: []sms.Key{key},
		OIDCClients: []govidp.Client{{ID: DemoOIDCClientID, Secret: secret,
			RedirectURIs: DemoOIDCRedirectURIs()}},
	}, nil
}

// LoadApps reads credentials an operator wrote (the format of
// sandbox-apps.yaml). Unknown keys are errors, to catch typos.
func LoadApps(path string) (Apps, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Apps{}, fmt.Errorf("sandbox: read apps: %w", err)
	}
	var apps Apps
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&apps); err != nil {
		return Apps{}, fmt.Errorf("sandbox: parse %s: %w", path, err)
	}
	return apps, nil
}

// LoadOrCreateApps returns the credentials kept in dataDir/sandbox-apps.yaml,
// generating and writing them (mode 0600) on first run, so that the
// sandbox and the plugins of the embedded default agree across restarts.
func LoadOrCreateApps(dataDir string) (Apps, error) {
	if dataDir == "" {
		return Apps{}, errors.New("sandbox: a data folder is required")
	}
	path := filepath.Join(dataDir, AppsFile)
	apps, err := LoadApps(path)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return apps, err
	}
	apps, err = GenerateApps()
	if err != nil {
		return Apps{}, err
	}
	body, err := yaml.Marshal(apps)
	if err != nil {
		return Apps{}, fmt.Errorf("sandbox: encode apps: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return Apps{}, fmt.Errorf("sandbox: data folder: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return LoadApps(path) // another process won the race
	}
	if err != nil {
		return Apps{}, fmt.Errorf("sandbox: write apps: %w", err)
	}
	header := "# Credentials of the Shiming sandbox's simulated vendors, generated on first run.\n" +
		"# The embedded default hands the same values to the plugins. Fictional; for demos and tests only.\n"
	if _, err := f.Write(append([]byte(header), body...)); err != nil {
		f.Close()
		return Apps{}, fmt.Errorf("sandbox: write apps: %w", err)
	}
	if err := f.Close(); err != nil {
		return Apps{}, fmt.Errorf("sandbox: write apps: %w", err)
	}
	return apps, nil
}
