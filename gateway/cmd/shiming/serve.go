package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shiming-id/shiming/contrib/sandbox"
	"github.com/shiming-id/shiming/gateway/account"
	"github.com/shiming-id/shiming/gateway/audit"
	"github.com/shiming-id/shiming/gateway/candidates"
	"github.com/shiming-id/shiming/gateway/config"
	"github.com/shiming-id/shiming/gateway/flow"
	"github.com/shiming-id/shiming/gateway/httpserver"
	"github.com/shiming-id/shiming/gateway/journey"
	"github.com/shiming-id/shiming/gateway/ops"
	"github.com/shiming-id/shiming/gateway/password"
	"github.com/shiming-id/shiming/gateway/pii"
	"github.com/shiming-id/shiming/gateway/pluginhost"
	"github.com/shiming-id/shiming/gateway/ratelimit"
	"github.com/shiming-id/shiming/gateway/session"
	"github.com/shiming-id/shiming/gateway/store"
	"github.com/shiming-id/shiming/gateway/store/redisstore"
	"github.com/shiming-id/shiming/gateway/store/sqlstore"
	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/registration"
	"github.com/shiming-id/shiming/registration/catalog"
	regweb "github.com/shiming-id/shiming/registration/web"
)

// timeNow is the wall clock every component is given.
var timeNow = time.Now

// runServe implements `shiming serve`, the default command.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var c commonFlags
	c.register(fs, true)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("serve: unexpected argument %q", fs.Arg(0))
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	logger := newLogger(cfg.Log, stderr)
	s, err := newServer(ctx, cfg, logger)
	if s != nil {
		defer s.close()
	}
	if err != nil {
		return err
	}
	return s.run(ctx, stdout)
}

// server is everything `serve` runs, assembled from the configuration.
type server struct {
	cfg    config.Config
	logger *slog.Logger

	registry *prometheus.Registry
	store    *sqlstore.Store
	shared   sharedState
	sandbox  *sandbox.Sandbox
	host     *pluginhost.Host
	ops      *ops.Handler
	public   http.Handler
	router   *httpserver.Router // the route table, for tests that walk it
	sbLn     net.Listener
	operator *firstOperator

	closers []func()
}

func (s *server) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

func newServer(ctx context.Context, cfg config.Config, logger *slog.Logger) (*server, error) {
	s := &server{cfg: cfg, logger: logger}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	keys, err := loadKeys(cfg)
	if err != nil {
		return nil, err
	}
	registry := ops.NewRegistry()
	s.registry = registry

	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s.store = st
	s.closers = append(s.closers, func() { st.Close() })

	// Short-lived state shared by replicas: the database, or Redis when
	// configured (then every replica sees every session, flow and code).
	var shared sharedState = st
	checks := []ops.Check{{Name: "database", Func: st.Ping}}
	if cfg.Redis.Addr != "" {
		u := url.URL{Scheme: "redis", Host: cfg.Redis.Addr, Path: fmt.Sprintf("/%d", cfg.Redis.DB)}
		if cfg.Redis.Password != "" {
			u.User = url.UserPassword("", cfg.Redis.Password)
		}
		rs, err := redisstore.Open(ctx, u.String(), redisstore.Options{Prefix: cfg.Redis.Prefix})
		if err != nil {
			return s, fmt.Errorf("redis %s: %w", cfg.Redis.Addr, err)
		}
		s.closers = append(s.closers, func() { rs.Close() })
		shared = rs
		checks = append(checks, ops.Check{Name: "redis", Func: rs.Ping})
	}
	s.shared = shared

	switch {
	case cfg.Sandbox.Enabled:
		if err := s.embedSandbox(&cfg); err != nil {
			return s, err
		}
	case cfg.Sandbox.AppsFile != "":
		if err := useExternalSandbox(ctx, &cfg); err != nil {
			return s, err
		}
	}
	if err := addHandleKeys(&cfg, keys); err != nil {
		return s, err
	}

	specs, err := pluginSpecs(cfg)
	if err != nil {
		return s, err
	}
	socketDir, err := os.MkdirTemp("", "shiming-")
	if err != nil {
		return s, fmt.Errorf("plugin socket folder: %w", err)
	}
	s.closers = append(s.closers, func() { os.RemoveAll(socketDir) })
	host, err := pluginhost.New(specs, pluginhost.Options{
		Logger:     logger.With("component", "pluginhost"),
		Registerer: registry,
		SocketDir:  socketDir,
	})
	if err != nil {
		return s, err
	}
	s.host = host

	https := strings.HasPrefix(cfg.PublicBase(), "https://")
	sessions, err := session.New(shared, keys, session.Options{
		Secure:          https,
		IdleTimeout:     cfg.Sessions.IdleTimeout.D(),
		AbsoluteTimeout: cfg.Sessions.AbsoluteTimeout.D(),
		Logger:          logger.With("component", "session"),
	})
	if err != nil {
		return s, err
	}
	opSessions, err := session.New(shared, keys, session.Options{
		CookieName:      "shiming_operator",
		Secure:          https,
		IdleTimeout:     cfg.Sessions.IdleTimeout.D(),
		AbsoluteTimeout: cfg.Sessions.AbsoluteTimeout.D(),
		Logger:          logger.With("component", "operator_session"),
	})
	if err != nil {
		return s, err
	}
	accounts, err := account.NewService(st, keys, password.Params{
		MemoryKiB: uint32(cfg.Password.MemoryKiB), Iterations: uint32(cfg.Password.Iterations), Parallelism: uint8(cfg.Password.Parallelism),
	}, timeNow)
	if err != nil {
		return s, err
	}
	limiter, err := ratelimit.New(ratelimit.Options{Counters: shared, KV: shared, Now: timeNow, Registerer: registry,
		Key: func(k string) string { return keys.Lookup("ratelimit", k) }, Names: journey.RateLimitNames()})
	if err != nil {
		return s, err
	}
	auditLog := audit.New(st, timeNow, logger.With("component", "audit"))

	assets, err := httpserver.NewAssets(journey.Static(), regweb.Static())
	if err != nil {
		return s, err
	}
	clientIP, err := clientIPFunc(cfg.Limits.TrustedProxies)
	if err != nil {
		return s, err
	}
	demoPhone := ""
	if s.sandbox != nil {
		demoPhone = cfg.SandboxBase() + "/phone/"
	}
	journeys, err := journey.New(journey.Deps{
		Logger:    logger.With("component", "journey"),
		Now:       timeNow,
		Portals:   cfg.Portals,
		RealName:  cfg.RealName,
		Limits:    cfg.Limits,
		OIDC:      cfg.OIDC,
		PublicURL: cfg.PublicBase(),
		Sessions:  sessions,
		Flows:     flow.NewEngine(shared, keys, timeNow),
		KV:        shared,
		Accounts:  accounts,
		Limiter:   limiter,
		PasswordGuard: ratelimit.NewPasswordGuard(limiter, ratelimit.PasswordPolicy{
			PerAccountPerHour: int64(cfg.Limits.PasswordPerAccountPerHour),
			PerIPPerHour:      int64(cfg.Limits.PasswordPerIPPerHour),
			LockoutAfter:      int64(cfg.Limits.LockoutAfter),
			LockoutFor:        cfg.Limits.LockoutFor.D(),
		}),
		Audit:        auditLog,
		Providers:    hostProviders{host},
		Registerer:   registry,
		HTTPClient:   &http.Client{Timeout: 10 * time.Second},
		ClientIP:     clientIP,
		Assets:       assets,
		DemoPhoneURL: demoPhone,
	})
	if err != nil {
		return s, err
	}

	examNow := func() time.Time { return timeNow().Add(cfg.Exam.ClockOffset.D()) }
	directory := candidates.NewDirectory(sessions, accounts)
	regSvc, err := registration.New(registration.Config{
		Store:      st,
		Candidates: directory,
		Auditor:    candidates.Auditor{Log: auditLog},
		Now:        examNow,
		Logger:     logger.With("component", "registration"),
		Registerer: registry,
		Portals:    portalIDs(cfg.Portals),
	})
	if err != nil {
		return s, err
	}
	if err := s.loadCatalog(ctx, cfg, examNow()); err != nil {
		return s, err
	}
	operators := cfg.Operators
	if len(operators) == 0 && s.sandbox != nil {
		op, err := loadOrCreateOperator(filepath.Join(cfg.DataDir, "operator.json"))
		if err != nil {
			return s, err
		}
		s.operator = op
		operators = []config.Operator{op.Operator}
	}
	opDir, err := candidates.NewOperators(operators)
	if err != nil {
		return s, err
	}
	validPortal := func(p string) bool { return slices.Contains(portalIDs(cfg.Portals), p) }
	reg, err := regweb.New(regweb.Config{
		Service:          regSvc,
		Operators:        opDir,
		OperatorSessions: candidates.NewOperatorSessions(opSessions),
		ValidPortal:      validPortal,
		Portals:          portalIDs(cfg.Portals),
		LoginURL: func(portal, next string) string {
			return "/" + portal + "/login?next=" + url.QueryEscape(next)
		},
		SignOutURL: func(portal string) string { return "/" + portal + "/logout" },
		StaticURL:  assets.URL,
		Logger:     logger.With("component", "registration_web"),
	})
	if err != nil {
		return s, err
	}

	router := httpserver.NewRouter()
	s.router = router
	assets.Register(router)
	journeys.Register(router)
	reg.Register(router)

	metrics, err := httpserver.NewMetrics(registry)
	if err != nil {
		return s, err
	}
	crossOrigin, err := httpserver.CrossOrigin(httpserver.CrossOriginOptions{
		Rejections: metrics.CrossOriginRejections(),
		Logger:     logger,
	})
	if err != nil {
		return s, err
	}
	s.public = httpserver.Chain(router,
		httpserver.RequestID(logger),
		metrics.Middleware,
		httpserver.AccessLog(logger),
		httpserver.Recover(logger),
		httpserver.SecurityHeaders(httpserver.SecurityOptions{HSTS: https}),
		httpserver.Shed(httpserver.ShedOptions{MaxInFlight: cfg.Limits.MaxInFlight, Shed: metrics.Shed()}),
		crossOrigin,
	)

	for _, sp := range specs {
		name := sp.Name
		checks = append(checks, ops.Check{Name: "plugin:" + name, Func: func(ctx context.Context) error { return pluginReady(host, name) }})
	}
	s.ops, err = ops.New(ops.Options{Gatherer: registry, Registerer: registry, Checks: checks, Logger: logger.With("component", "ops")})
	if err != nil {
		return s, err
	}
	return s, nil
}

// run starts the plugins, the janitor and the listeners, prints the
// banner and serves until ctx ends; then it drains requests and stops
// the plugins.
func (s *server) run(ctx context.Context, stdout io.Writer) error {
	pubLn, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("public listener: %w", err)
	}
	opsLn, err := net.Listen("tcp", s.cfg.OpsListen)
	if err != nil {
		pubLn.Close()
		return fmt.Errorf("ops listener: %w", err)
	}
	s.host.Start()

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 4)
	serve := func(name string, h http.Handler, ln net.Listener) {
		srv := httpserver.New(httpserver.Options{Addr: ln.Addr().String(), Handler: h, Logger: s.logger})
		err := httpserver.Serve(runCtx, srv, ln, 10*time.Second)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		if err != nil {
			err = fmt.Errorf("%s listener: %w", name, err)
		}
		errc <- err
	}
	n := 2
	var opsHandler http.Handler = s.ops
	if s.cfg.PProf {
		opsHandler = withPProf(s.ops)
		s.logger.Warn("profiling endpoints are on: /debug/pprof/ on the ops listener", "ops_listen", opsLn.Addr().String())
	}
	go serve("public", s.public, pubLn)
	go serve("ops", opsHandler, opsLn)
	if s.sbLn != nil {
		n++
		go serve("sandbox", s.sandbox.Handler(), s.sbLn)
		go func() { <-runCtx.Done(); s.sandbox.Close() }()
	}
	if err := s.ops.WatchReadiness(runCtx, s.registry, 10*time.Second); err != nil {
		return err
	}
	janitors := []store.Expirer{s.store}
	if s.shared != store.Expirer(s.store) {
		janitors = append(janitors, s.shared)
	}
	for _, e := range janitors {
		j := &store.Janitor{Store: e, Interval: time.Minute, Logger: s.logger.With("component", "janitor")}
		go func() { _ = j.Run(runCtx) }()
	}

	s.printBanner(stdout, pubLn.Addr().String(), opsLn.Addr().String())

	var first error
	for range n {
		err := <-errc
		if err != nil && first == nil {
			first = err
			cancel() // one listener failed: stop the others
		}
	}
	s.ops.Drain()
	shutCtx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	if err := s.host.Shutdown(shutCtx); err != nil {
		s.logger.Warn("plugin shutdown", "error", err)
	}
	s.logger.Info("shiming stopped")
	return first
}

// embedSandbox starts the vendor simulators on their own loopback
// listener and points the built-in providers and a government IdP at
// them, unless the configuration already gives their settings.
func (s *server) embedSandbox(cfg *config.Config) error {
	dir := filepath.Join(cfg.DataDir, "sandbox")
	callback := cfg.PublicBase() + "/oidc/" + sandboxIssuerID + "/callback"
	sb, apps, err := startSandbox(dir, cfg.SandboxBase(), []string{callback}, s.logger)
	if err != nil {
		return err
	}
	s.sandbox = sb
	s.closers = append(s.closers, sb.Close)
	ln, err := net.Listen("tcp", cfg.Sandbox.Listen)
	if err != nil {
		return fmt.Errorf("sandbox listener: %w", err)
	}
	s.sbLn = ln
	return pointAtSandbox(cfg, apps, sb)
}

// useExternalSandbox points the gateway at a `shiming sandbox` running
// as its own process, from the credentials file it wrote.
func useExternalSandbox(ctx context.Context, cfg *config.Config) error {
	apps, err := sandbox.LoadApps(cfg.Sandbox.AppsFile)
	if err != nil {
		return fmt.Errorf("sandbox.apps_file: %w", err)
	}
	remote, err := dialSandbox(ctx, cfg.SandboxBase())
	if err != nil {
		return err
	}
	return pointAtSandbox(cfg, apps, remote)
}

// pointAtSandbox fills the configuration of every built-in provider that
// has none, and the government IdP when none is configured.
func pointAtSandbox(cfg *config.Config, apps sandbox.Apps, sb sandboxVendors) error {
	for i, p := range cfg.Providers {
		if p.Builtin == "" || len(p.Config) > 0 {
			continue
		}
		c, err := sandboxProviderConfig(p.Builtin, apps, sb)
		if err != nil {
			return err
		}
		cfg.Providers[i].Config = c
	}
	if len(cfg.OIDC) == 0 && len(apps.OIDCClients) > 0 {
		cfg.OIDC = []config.Issuer{{
			ID:           sandboxIssuerID,
			Name:         "湖南省政务服务网（沙箱）",
			IssuerURL:    sb.OIDCIssuer(),
			ClientID:     apps.OIDCClients[0].ID,
			ClientSecret: apps.OIDCClients[0].Secret,
			Scopes:       []string{"openid", "profile", "phone", "realname"},
			RealNameClaims: config.RealNameClaims{
				Name: "name", IDNumber: "id_number", Level: "name_id", Require: "real_name_verified",
			},
		}}
	}
	return nil
}

// remoteSandbox is a sandbox reached over HTTP: its public keys are read
// from the paths it publishes them at.
type remoteSandbox struct {
	base             string
	alipayKey, ctKey string
}

func (r *remoteSandbox) URL(host, path string) string {
	return r.base + "/" + host + "/" + strings.TrimPrefix(path, "/")
}
func (r *remoteSandbox) AlipayPublicKeyPEM() string       { return r.alipayKey }
func (r *remoteSandbox) CTIDPlatformPublicKeyPEM() string { return r.ctKey }
func (r *remoteSandbox) OIDCIssuer() string               { return r.base + "/govidp" }

// dialSandbox fetches an external sandbox's published keys, waiting up
// to 30 s for it to answer (it may be starting beside the gateway).
func dialSandbox(ctx context.Context, base string) (*remoteSandbox, error) {
	r := &remoteSandbox{base: strings.TrimSuffix(base, "/")}
	client := &http.Client{Timeout: 5 * time.Second}
	get := func(path string) (string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+path, nil)
		if err != nil {
			return "", err
		}
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if err != nil {
			return "", err
		}
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("%s: %s", path, resp.Status)
		}
		return string(b), nil
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		if r.alipayKey, err = get("/openapi.alipay.com/sandbox/alipay_public_key.pem"); err == nil {
			if r.ctKey, err = get("/ctid.sandbox/v1/platform/public-key"); err == nil {
				return r, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("sandbox at %s does not answer: %w", r.base, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// sharedState is the short-lived state replicas share.
type sharedState interface {
	store.Sessions
	store.Flows
	store.KV
	store.Counters
	store.Expirer
}

// sandboxIssuerID names the sandbox's government IdP in URLs and metrics.
const sandboxIssuerID = "zwfw"

// addHandleKeys gives every provider a handle_key derived from the
// master key, so that handles one replica's plugin issues verify at any
// other replica's plugin. A key set in the configuration is kept.
func addHandleKeys(cfg *config.Config, keys *pii.Keyring) error {
	for i, p := range cfg.Providers {
		if p.Config == nil {
			cfg.Providers[i].Config = map[string]any{}
		}
		if _, ok := cfg.Providers[i].Config["handle_key"]; ok {
			continue
		}
		cfg.Providers[i].Config["handle_key"] = base64.StdEncoding.EncodeToString(keys.Derive("plugin handle key " + p.Name))
	}
	return nil
}

// pluginSpecs maps the configured providers onto the host's specs.
func pluginSpecs(cfg config.Config) ([]pluginhost.Spec, error) {
	specs := make([]pluginhost.Spec, 0, len(cfg.Providers))
	for _, p := range cfg.Providers {
		raw, err := json.Marshal(p.Config)
		if err != nil {
			return nil, usagef("providers %s: config is not JSON-representable: %v", p.Name, err)
		}
		specs = append(specs, pluginhost.Spec{
			Name: p.Name, Builtin: p.Builtin, Path: p.Path, Args: p.Args,
			SHA256: p.SHA256, Version: p.Version, Config: raw,
			StartTimeout: p.StartTimeout.D(), CallTimeout: p.CallTimeout.D(),
		})
	}
	return specs, nil
}

// pluginReady is one provider's readiness.
func pluginReady(h *pluginhost.Host, name string) error {
	for _, st := range h.Status() {
		if st.Name != name {
			continue
		}
		switch st.State {
		case pluginhost.StateHealthy, pluginhost.StateDegraded:
			return nil
		}
		if st.Reason != "" {
			return fmt.Errorf("%s: %s", st.State, st.Reason)
		}
		return fmt.Errorf("%s", st.State)
	}
	return errors.New("not configured")
}

// loadCatalog loads the exam catalog: the sample exam, its window moved
// to open today, in the embedded default; the configured CSV otherwise.
func (s *server) loadCatalog(ctx context.Context, cfg config.Config, now time.Time) error {
	switch {
	case cfg.Exam.CatalogFile != "":
		f, err := os.Open(cfg.Exam.CatalogFile)
		if err != nil {
			return fmt.Errorf("exam catalog: %w", err)
		}
		defer f.Close()
		if _, err := registration.ImportCSV(ctx, s.store, f); err != nil {
			return fmt.Errorf("exam catalog %s: %w", cfg.Exam.CatalogFile, err)
		}
	case s.sandbox != nil:
		c, err := catalog.SampleOpenAt(now)
		if err != nil {
			return err
		}
		if err := s.store.ImportCatalog(ctx, c); err != nil {
			return fmt.Errorf("sample catalog: %w", err)
		}
	}
	return nil
}

func portalIDs(ps []config.Portal) []string {
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	return ids
}

// hostProviders adapts the plugin host to the journeys' Providers.
type hostProviders struct{ h *pluginhost.Host }

func (p hostProviders) provider(name string) (*pluginhost.Provider, error) {
	if name == "" {
		return nil, errors.New("no provider configured for this step")
	}
	return p.h.Provider(name)
}

func (p hostProviders) ScanLogin(name string) (sdk.ScanLogin, error) { return p.provider(name) }

func (p hostProviders) IdentityChecker(name string) (sdk.IdentityChecker, error) {
	return p.provider(name)
}

func (p hostProviders) FaceVerifier(name string) (sdk.FaceVerifier, error) { return p.provider(name) }

func (p hostProviders) PhoneVerifier(name string) (sdk.PhoneVerifier, error) { return p.provider(name) }

func (p hostProviders) PhoneNotifier(name string) (sdk.PhoneNotifier, error) { return p.provider(name) }

var _ journey.Providers = hostProviders{}

// clientIPFunc returns the client address of a request: the connection's
// peer, or, when that peer is a trusted proxy, the last address in
// X-Forwarded-For that is not itself a trusted proxy.
func clientIPFunc(cidrs []string) (func(*http.Request) string, error) {
	var trusted []*net.IPNet
	for _, c := range cidrs {
		_, n, err := net.ParseCIDR(c)
		if err != nil {
			return nil, usagef("limits.trusted_proxies: %v", err)
		}
		trusted = append(trusted, n)
	}
	isTrusted := func(ip net.IP) bool {
		for _, n := range trusted {
			if n.Contains(ip) {
				return true
			}
		}
		return false
	}
	return func(r *http.Request) string {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		ip := net.ParseIP(host)
		if ip == nil || !isTrusted(ip) {
			return host
		}
		hops := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			h := strings.TrimSpace(hops[i])
			hip := net.ParseIP(h)
			if hip == nil {
				break
			}
			if !isTrusted(hip) {
				return h
			}
		}
		return host
	}, nil
}

// firstOperator is the operator the embedded default creates on first
// run; its password is printed once, then only its hash is kept.
type firstOperator struct {
	config.Operator
	password string // set only on the run that created it
}

func loadOrCreateOperator(path string) (*firstOperator, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		var op config.Operator
		if err := json.Unmarshal(b, &op); err != nil || op.Username == "" {
			return nil, fmt.Errorf("%s: not an operator file; delete it to create a new operator", path)
		}
		return &firstOperator{Operator: op}, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	raw := make([]byte, 12)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	pw := base64.RawURLEncoding.EncodeToString(raw)
	hash, err := password.Hash(pw, password.DefaultParams)
	if err != nil {
		return nil, err
	}
	op := config.Operator{Username: "kaowu", PasswordHash: hash}
	out, _ := json.MarshalIndent(op, "", "  ")
	if err := os.WriteFile(path, append(out, '\n'), 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return &firstOperator{Operator: op, password: pw}, nil
}

func (s *server) printBanner(w io.Writer, public, opsAddr string) {
	base := s.cfg.PublicBase()
	if s.cfg.PublicURL == "" {
		base = "http://" + public
	}
	fmt.Fprintf(w, "\nShiming %s is running.\n\n", version)
	fmt.Fprintln(w, "Candidate portals (open one in a desktop browser):")
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	for _, p := range s.cfg.Portals {
		fmt.Fprintf(tw, "  %s\t%s/%s/\t%s\n", p.ID, base, p.ID, p.Name)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nExam operators:    %s/operator/\n", base)
	if s.operator != nil {
		if s.operator.password != "" {
			fmt.Fprintf(w, "  username %s, password %s  (shown once; only its hash is kept in %s)\n",
				s.operator.Username, s.operator.password, filepath.Join(s.cfg.DataDir, "operator.json"))
		} else {
			fmt.Fprintf(w, "  username %s (its password was printed on the first run)\n", s.operator.Username)
		}
	}
	if s.sandbox != nil {
		sb := s.cfg.SandboxBase()
		fmt.Fprintf(w, "\nSandbox vendors:   %s/\n", sb)
		fmt.Fprintf(w, "Virtual phone:     %s/phone/   (scan QR codes, pass face checks, read SMS codes)\n", sb)
		fmt.Fprintf(w, "Government portal: %s/govidp/  (sign in with a citizen's ID number and password sandbox123)\n", sb)
	}
	fmt.Fprintf(w, "\nMetrics:           http://%s/metrics\n", opsAddr)
	fmt.Fprintf(w, "Health:            http://%s/healthz   http://%s/readyz\n", opsAddr, opsAddr)
	fmt.Fprintf(w, "Data folder:       %s\n\nPress Ctrl-C to stop.\n", s.cfg.DataDir)
}
