// Package sandbox is one HTTP server of faithful vendor simulators
// (WeChat, Alipay, CTID, SMS) and a government-portal OIDC provider, with
// a virtual phone and fault injection, for the demo and the tests. Each
// simulated host is served under a path prefix equal to its real host name,
// so pointing a plugin at the real vendor is a base-URL change only.
package sandbox

import (
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/alipay"
	"github.com/shiming-id/shiming/contrib/sandbox/citizens"
	"github.com/shiming-id/shiming/contrib/sandbox/ctid"
	"github.com/shiming-id/shiming/contrib/sandbox/fault"
	"github.com/shiming-id/shiming/contrib/sandbox/govidp"
	"github.com/shiming-id/shiming/contrib/sandbox/phone"
	"github.com/shiming-id/shiming/contrib/sandbox/simenv"
	"github.com/shiming-id/shiming/contrib/sandbox/sms"
	"github.com/shiming-id/shiming/contrib/sandbox/wechat"
)

//go:embed web
var webFS embed.FS

// Config configures a sandbox. Only PublicURL is required.
type Config struct {
	// DataDir keeps the keys the simulators generate (files mode 0600);
	// empty keeps them in memory, so they change on every start.
	DataDir string
	// PublicURL is the sandbox's base URL as browsers and plugins reach it,
	// e.g. http://127.0.0.1:8081.
	PublicURL string
	// Logger receives the access log and the simulators' logs.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Citizens is the population; nil means citizens.Default().
	Citizens *citizens.Registry
	// Apps are the credentials the vendors know.
	Apps Apps
	// WeChat, CTID and SMS tune those simulators (lifetimes, SMS flow
	// control); zero values are the vendors' documented defaults.
	WeChat wechat.Options
	CTID   ctid.Options
	SMS    sms.Options
}

// Sandbox is a running set of simulators.
type Sandbox struct {
	env     simenv.Env
	log     *slog.Logger
	faults  *fault.Set
	wechat  *wechat.Sim
	alipay  *alipay.Sim
	ctid    *ctid.Sim
	sms     *sms.Sim
	idp     *govidp.IdP
	phone   *phone.Phone
	hosts   []string
	apps    Apps
	index   *template.Template
	handler http.Handler
}

// New builds every simulator and reports every configuration problem at
// once.
func New(cfg Config) (*Sandbox, error) {
	base := strings.TrimSuffix(cfg.PublicURL, "/")
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("sandbox: PublicURL must be an absolute http(s) URL")
	}
	s := &Sandbox{faults: &fault.Set{}, log: cfg.Logger, apps: cfg.Apps}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Citizens == nil {
		cfg.Citizens = citizens.Default()
	}
	s.env = simenv.Env{Logger: s.log, Now: cfg.Now, PublicURL: base, DataDir: cfg.DataDir,
		Citizens: cfg.Citizens, Faults: s.faults}
	var errs []error
	var err error
	if s.wechat, err = wechat.New(s.envFor(wechat.Vendor), cfg.Apps.WeChat, cfg.WeChat); err != nil {
		errs = append(errs, err)
	}
	if s.alipay, err = alipay.New(s.envFor("alipay"), cfg.Apps.Alipay); err != nil {
		errs = append(errs, err)
	}
	if s.ctid, err = ctid.New(s.envFor(ctid.Vendor), cfg.Apps.CTID, cfg.CTID); err != nil {
		errs = append(errs, err)
	}
	if s.sms, err = sms.New(s.envFor(sms.Vendor), cfg.Apps.SMS, cfg.SMS); err != nil {
		errs = append(errs, err)
	}
	if s.idp, err = govidp.New(s.envFor("govidp"), cfg.Apps.OIDCClients); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	s.phone, err = phone.New(phone.Config{Logger: s.log.With("vendor", "phone"), Now: cfg.Now, Citizens: cfg.Citizens,
		Sources: []phone.Source{s.wechat, s.alipay, s.ctid}, Inbox: s.sms})
	if err != nil {
		return nil, err
	}
	if s.index, err = template.ParseFS(webFS, "web/*.tmpl"); err != nil {
		return nil, fmt.Errorf("sandbox: templates: %w", err)
	}
	if s.handler, err = s.routes(); err != nil {
		return nil, err
	}
	return s, nil
}

// Handler serves the whole sandbox.
func (s *Sandbox) Handler() http.Handler { return s.handler }

// Close answers held long-polls at once; call it before shutting the
// HTTP server down.
func (s *Sandbox) Close() { s.wechat.Close() }

// Faults is the fault set every simulator consults.
func (s *Sandbox) Faults() *fault.Set { return s.faults }

// URL returns the public URL of a path on a simulated host.
func (s *Sandbox) URL(host, path string) string { return s.env.URL(host, path) }

// OIDCIssuer is the government IdP's issuer URL.
func (s *Sandbox) OIDCIssuer() string { return s.idp.Issuer() }

// AlipayPublicKeyPEM is the key that verifies the Alipay simulator's
// responses (支付宝公钥).
func (s *Sandbox) AlipayPublicKeyPEM() string { return s.alipay.AlipayPublicKeyPEM() }

// CTIDPlatformPublicKeyPEM is the key organisations encrypt CTID retain
// data to and verify CTID responses with.
func (s *Sandbox) CTIDPlatformPublicKeyPEM() string {
	return ctid.PublicKeyPEM(s.ctid.PlatformPublicKey())
}

func (s *Sandbox) routes() (http.Handler, error) {
	mux := http.NewServeMux()
	vendors := []map[string]http.Handler{s.wechat.Routes(), s.alipay.Routes(), s.ctid.Routes(), s.sms.Routes(), s.idp.Routes()}
	seen := map[string]bool{}
	for _, routes := range vendors {
		for host, h := range routes {
			if seen[host] || host == "phone" || host == "sandbox" || strings.ContainsAny(host, "/{} ") {
				return nil, fmt.Errorf("sandbox: host %q is reserved or served twice", host)
			}
			seen[host] = true
			s.hosts = append(s.hosts, host)
			mux.Handle("/"+host+"/", http.StripPrefix("/"+host, h))
		}
	}
	sort.Strings(s.hosts)
	mux.Handle("/phone/", http.StripPrefix("/phone", s.phone.Handler()))
	mux.HandleFunc("GET /{$}", s.serveIndex)
	mux.HandleFunc("GET /sandbox/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	faults := http.NewServeMux()
	faults.HandleFunc("GET /sandbox/faults", s.listFaults)
	faults.HandleFunc("POST /sandbox/faults", s.addFault)
	faults.HandleFunc("DELETE /sandbox/faults", s.clearFaults)
	mux.Handle("/sandbox/faults", http.NewCrossOriginProtection().Handler(faults))
	mux.HandleFunc("GET /sandbox/static/", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, webFS, "web/static/"+strings.TrimPrefix(r.URL.Path, "/sandbox/static/"))
	})
	return accessLog(s.log, mux), nil
}

// envFor is the environment of one vendor: its logs carry its name.
func (s *Sandbox) envFor(vendor string) simenv.Env {
	e := s.env
	e.Logger = s.log.With("vendor", vendor)
	return e
}

func randomSecret() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("sandbox: random secret: %w", err)
	}
	return hex.EncodeToString(b), nil
}
