package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"slices"
	"testing"

	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/providertest"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestConformance builds the plugin and runs the conformance kit, in
// this process and over a real plugin process, against the fake Acme.
func TestConformance(t *testing.T) {
	acme := newFakeAcme(t)
	bin := providertest.BuildPlugin(t, ".")
	providertest.Run(t, providertest.Harness{
		New:         func() sdk.Provider { return newProvider(quiet(), "test") },
		Command:     func() *exec.Cmd { return exec.Command(bin) },
		Config:      acme.config("app-1"),
		OtherConfig: acme.config("app-2"),
		BadConfig:   json.RawMessage(`{"base_url":"ftp://acme","timeout_seconds":99}`),
		BadFields:   []string{"base_url", "app_id", "app_secret", "timeout_seconds"},
		Phone:       acme,
		People:      acme.people,
		Slow:        acme.makeSlow,
	})
}

func TestConfigValidation(t *testing.T) {
	cases := []struct {
		name   string
		config string
		fields []string
	}{
		{"valid", `{"base_url":"https://api.acme.example","app_id":"a","app_secret":"s"}`, nil},
		{"not an object", `[1]`, []string{"config"}},
		{"relative url", `{"base_url":"/v1","app_id":"a","app_secret":"s"}`, []string{"base_url"}},
		{"missing credentials", `{"base_url":"http://127.0.0.1:1"}`, []string{"app_id", "app_secret"}},
		{"negative timeout", `{"base_url":"https://x","app_id":"a","app_secret":"s","timeout_seconds":-1}`, []string{"timeout_seconds"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := newProvider(quiet(), "t").Configure(context.Background(), json.RawMessage(tc.config))
			if tc.fields == nil {
				if err != nil {
					t.Fatalf("Configure = %v", err)
				}
				return
			}
			var e *sdk.Error
			if !errors.As(err, &e) || e.Kind != sdk.InvalidConfig || !slices.Equal(e.Fields, tc.fields) {
				t.Fatalf("Configure = %v, want InvalidConfig naming %v", err, tc.fields)
			}
		})
	}
}

func FuzzConfigure(f *testing.F) {
	f.Add(`{"base_url":"https://api.acme.example","app_id":"a","app_secret":"s"}`)
	f.Add(`{"base_url":1}`)
	f.Fuzz(func(t *testing.T, config string) {
		err := newProvider(quiet(), "t").Configure(context.Background(), json.RawMessage(config))
		if err != nil && sdk.KindOf(err) != sdk.InvalidConfig {
			t.Fatalf("Configure(%q) = %v, want nil or InvalidConfig", config, err)
		}
	})
}

func TestVendorErrors(t *testing.T) {
	cases := []struct {
		status int
		code   string
		kind   sdk.Kind
	}{
		{http.StatusNotFound, "SESSION_NOT_FOUND", sdk.UUIDInvalid},
		{http.StatusBadRequest, "CODE_USED", sdk.CodeReused},
		{http.StatusBadRequest, "CODE_INVALID", sdk.CodeInvalid},
		{http.StatusBadRequest, "SESSION_EXPIRED", sdk.Expired},
		{http.StatusUnauthorized, "BAD_SIGNATURE", sdk.InvalidConfig},
		{http.StatusTooManyRequests, "", sdk.RateLimited},
		{http.StatusBadGateway, "", sdk.VendorUnavailable},
		{http.StatusTeapot, "SOMETHING_NEW", sdk.Internal},
	}
	for _, tc := range cases {
		t.Run(tc.code, func(t *testing.T) {
			if got := vendorKind(tc.status, tc.code); got != tc.kind {
				t.Errorf("vendorKind(%d, %q) = %v, want %v", tc.status, tc.code, got, tc.kind)
			}
		})
	}
}

func TestWrongSecretIsInvalidConfig(t *testing.T) {
	acme := newFakeAcme(t)
	p := newProvider(quiet(), "t")
	cfg, _ := json.Marshal(map[string]string{"base_url": acme.srv.URL, "app_id": "app-1", "app_secret": "wrong"})
	if err := p.Configure(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	_, err := p.BeginScan(context.Background(), sdk.BeginScanRequest{CallbackURL: "https://gw/cb", State: "s"})
	if sdk.KindOf(err) != sdk.InvalidConfig || sdk.VendorCodeOf(err) != "BAD_SIGNATURE" {
		t.Fatalf("BeginScan with a wrong secret = %v", err)
	}
	h, err := p.Health(context.Background())
	if err != nil || h.Status != sdk.Degraded {
		t.Fatalf("Health with a wrong secret = %+v, %v", h, err)
	}
}
