package pluginconfig_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/pluginconfig"
)

type acmeConfig struct {
	appID, appSecret string
	baseURL          string
	handleKey        []byte
	httpTimeout      time.Duration
}

// parseConfig is the whole of a plugin's configuration parsing: every
// problem of every field, reported at once.
func parseConfig(raw json.RawMessage) (acmeConfig, error) {
	r, err := pluginconfig.New("acme", raw, "app_id", "app_secret", "base_url", "handle_key", "http_timeout")
	if err != nil {
		return acmeConfig{}, err
	}
	c := acmeConfig{
		appID:       r.Required("app_id"),
		appSecret:   r.Required("app_secret"),
		baseURL:     r.BaseURL("base_url", "https://api.acme.example"),
		handleKey:   r.Key32("handle_key"),
		httpTimeout: r.Duration("http_timeout", 10*time.Second, 100*time.Millisecond, 2*time.Minute),
	}
	if len(c.appID) > 32 {
		r.Problem("app_id", "must be at most 32 characters")
	}
	return c, r.Err()
}

func Example() {
	_, err := parseConfig(json.RawMessage(`{
		"app_id": "app-1",
		"base_url": "ftp://api.acme.example",
		"handle_key": "c2hvcnQ=",
		"http_timeout": "1h",
		"colour": "blue"
	}`))
	var e *sdk.Error
	if errors.As(err, &e) {
		fmt.Println(e.Kind, e.Fields)
		fmt.Println(e.Message)
	}

	c, err := parseConfig(json.RawMessage(`{"app_id":"app-1","app_secret":"s3cr3t","handle_key":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}`))
	fmt.Println(c.baseURL, c.httpTimeout, err)
	// Output:
	// invalid_config [colour app_secret base_url handle_key http_timeout]
	// acme: colour is not a known field; app_secret is required; base_url must be an absolute http(s) URL without query or fragment; handle_key must decode to 32 bytes; http_timeout must be a Go duration between 100ms and 2m
	// https://api.acme.example 10s <nil>
}
