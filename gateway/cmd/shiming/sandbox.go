package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox"
	"github.com/shiming-id/shiming/gateway/httpserver"
)

// runSandbox implements `shiming sandbox`: the vendor simulators and the
// government IdP alone, for docker-compose and for trying plugins.
func runSandbox(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	listen := fs.String("listen", envOr("SHIMING_SANDBOX_LISTEN", "127.0.0.1:8081"), "`addr` to listen on [SHIMING_SANDBOX_LISTEN]")
	data := fs.String("data", envOr("SHIMING_DATA", "./shiming-data"), "data `dir`; credentials and keys go to DIR/sandbox [SHIMING_DATA]")
	publicURL := fs.String("public-url", os.Getenv("SHIMING_SANDBOX_PUBLIC_URL"), "`URL` browsers and plugins use to reach the sandbox (default http://ADDR) [SHIMING_SANDBOX_PUBLIC_URL]")
	redirect := fs.String("oidc-redirect", os.Getenv("SHIMING_SANDBOX_OIDC_REDIRECT"), "comma-separated gateway OIDC callback `URLs` the demo client allows [SHIMING_SANDBOX_OIDC_REDIRECT]")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	base := *publicURL
	if base == "" {
		base = "http://" + *listen
	}
	var redirects []string
	if *redirect != "" {
		redirects = strings.Split(*redirect, ",")
	}
	sb, _, err := startSandbox(filepath.Join(*data, "sandbox"), base, redirects, logger)
	if err != nil {
		return err
	}
	defer sb.Close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	fmt.Fprintf(stdout, "Shiming sandbox on %s\n  virtual phone:  %s/phone/\n  credentials:    %s\n  OIDC issuer:    %s\n",
		base, base, filepath.Join(*data, "sandbox", sandbox.AppsFile), sb.OIDCIssuer())
	srv := httpserver.New(httpserver.Options{Addr: *listen, Handler: sb.Handler(), Logger: logger})
	// The WeChat long-poll holds requests; closing the sandbox first
	// releases them so shutdown is quick.
	go func() { <-ctx.Done(); sb.Close() }()
	err = httpserver.Serve(ctx, srv, ln, 5*time.Second)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// startSandbox loads or creates the demo credentials in dir and starts
// the simulators. redirects, when given, replace the government IdP
// client's allowed callbacks (they depend on where the gateway listens).
func startSandbox(dir, publicURL string, redirects []string, logger *slog.Logger) (*sandbox.Sandbox, sandbox.Apps, error) {
	apps, err := sandbox.LoadOrCreateApps(dir)
	if err != nil {
		return nil, sandbox.Apps{}, err
	}
	// The demo's Alipay app holds the permission to read the user's real
	// name, ID number and phone, as the guide's Alipay path assumes.
	for i := range apps.Alipay {
		apps.Alipay[i].RealNameFields = true
	}
	if len(redirects) > 0 {
		for i := range apps.OIDCClients {
			apps.OIDCClients[i].RedirectURIs = redirects
		}
	}
	sb, err := sandbox.New(sandbox.Config{
		DataDir:   dir,
		PublicURL: strings.TrimSuffix(publicURL, "/"),
		Logger:    logger.With("component", "sandbox"),
		Apps:      apps,
	})
	if err != nil {
		return nil, sandbox.Apps{}, err
	}
	return sb, apps, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
