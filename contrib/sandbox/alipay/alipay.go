// Package alipay simulates the Alipay open platform (支付宝开放平台) for the
// sandbox: the OpenAPI v2 gateway (gateway.do) with RSA2-signed requests and
// responses, the website login page (publicAppAuthorize.htm) and identity
// verification (alipay.user.certify.open.*), with the virtual phone as the
// Alipay app.
package alipay

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"sync"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/citizens"
	"github.com/shiming-id/shiming/contrib/sandbox/phone"
	"github.com/shiming-id/shiming/contrib/sandbox/simenv"
)

// Hosts the simulator serves, as keys of Routes.
const (
	HostOpenAPI  = "openapi.alipay.com"
	HostOpenAuth = "openauth.alipay.com"
)

// PublicKeyPath is the sandbox-only path, under HostOpenAPI, that serves the
// sandbox's "Alipay public key" (支付宝公钥) as PEM.
const PublicKeyPath = "/sandbox/alipay_public_key.pem"

// App is an application registered with the simulated open platform.
type App struct {
	// AppID is the 16-digit application id (APPID).
	AppID string `yaml:"app_id"`
	// Name is shown to the person on the authorization page.
	Name string `yaml:"name"`
	// AppPublicKeyPEM is the application public key (应用公钥) the gateway
	// verifies requests with: PEM ("PUBLIC KEY" or "RSA PUBLIC KEY") or the
	// bare base64 the Alipay console shows.
	AppPublicKeyPEM string `yaml:"app_public_key"`
	// AppPrivateKeyPEM is set only for demo apps, so that the embedded
	// default can hand it to the Alipay plugin. The simulator never uses it.
	AppPrivateKeyPEM string `yaml:"app_private_key"`
	// RealNameFields means the app holds the permission to receive
	// user_name, cert_type, cert_no and mobile in alipay.user.info.share.
	RealNameFields bool `yaml:"real_name_fields"`
}

// GenerateApp returns a demo app with a random 16-digit app id starting
// with 2021 and a fresh RSA-2048 key pair (PKCS #1 private key, PKIX public
// key, both PEM).
func GenerateApp(name string) (App, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000_000_000))
	if err != nil {
		return App{}, fmt.Errorf("alipay: generate app id: %w", err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return App{}, fmt.Errorf("alipay: generate app key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return App{}, fmt.Errorf("alipay: marshal app public key: %w", err)
	}
	return App{
		AppID:            fmt.Sprintf("2021%012d", n.Int64()),
		Name:             name,
		AppPublicKeyPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})),
		AppPrivateKeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})),
	}, nil
}

// app is a registered App with its parsed public key.
type app struct {
	App
	pub *rsa.PublicKey
}

// Sim is the simulated Alipay open platform. It is safe for concurrent use.
type Sim struct {
	env     simenv.Env
	log     *slog.Logger
	now     func() time.Time
	reg     *citizens.Registry
	key     *rsa.PrivateKey // the sandbox's "Alipay" private key
	pubPEM  string
	secret  []byte // derives user ids, per data folder
	apps    map[string]*app
	methods map[string]handler
	pages   *template.Template
	avatar  []byte

	mu       sync.Mutex
	codes    map[string]*authCode
	tokens   map[string]*accessToken
	refresh  map[string]*refreshToken
	logins   map[string]*login // by item id
	loginByQ map[string]string // canonical authorize query -> item id of the open login
	certs    map[string]*certification
	byOrder  map[string]string // app id + "/" + outer_order_no -> certify_id
	faces    map[string]string // item id -> certify_id
	swept    time.Time
}

// New returns a simulator for the given apps. Its own RSA-2048 key pair and
// the secret user ids derive from are kept in env.DataDir/alipay (created
// once, files mode 0600); with an empty DataDir they live in memory only.
func New(env simenv.Env, apps []App) (*Sim, error) {
	s := &Sim{
		env:      env,
		log:      env.Logger,
		now:      env.Now,
		reg:      env.Citizens,
		apps:     map[string]*app{},
		codes:    map[string]*authCode{},
		tokens:   map[string]*accessToken{},
		refresh:  map[string]*refreshToken{},
		logins:   map[string]*login{},
		loginByQ: map[string]string{},
		certs:    map[string]*certification{},
		byOrder:  map[string]string{},
		faces:    map[string]string{},
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.reg == nil {
		s.reg = citizens.Default()
	}
	var problems []error
	for i, a := range apps {
		switch {
		case !validAppID(a.AppID):
			problems = append(problems, fmt.Errorf("app %d: app_id must be 16 digits", i))
			continue
		case s.apps[a.AppID] != nil:
			problems = append(problems, fmt.Errorf("app %d: duplicate app_id %s", i, a.AppID))
			continue
		}
		pub, err := parsePublicKey(a.AppPublicKeyPEM)
		if err != nil {
			problems = append(problems, fmt.Errorf("app %s: app_public_key: %w", a.AppID, err))
			continue
		}
		s.apps[a.AppID] = &app{App: a, pub: pub}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("alipay: %w", errors.Join(problems...))
	}
	var err error
	if s.key, s.secret, err = loadKeys(env.DataDir); err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&s.key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("alipay: marshal public key: %w", err)
	}
	s.pubPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
	if s.pages, err = parsePages(); err != nil {
		return nil, err
	}
	if s.avatar, err = avatarPNG(); err != nil {
		return nil, err
	}
	s.methods = s.methodHandlers()
	return s, nil
}

// AlipayPublicKeyPEM returns the sandbox's "Alipay public key" (支付宝公钥),
// PKIX PEM, which clients verify response signatures with.
func (s *Sim) AlipayPublicKeyPEM() string { return s.pubPEM }

// Routes returns the handlers of the simulated hosts, keyed by host name;
// each expects paths with the "/"+host prefix already stripped.
func (s *Sim) Routes() map[string]http.Handler {
	api := http.NewServeMux()
	api.HandleFunc("/gateway.do", s.serveGateway)
	api.HandleFunc("GET "+PublicKeyPath, s.servePublicKey)
	api.Handle("GET /sandbox/static/", staticHandler())

	auth := http.NewServeMux()
	auth.HandleFunc(authorizePath, s.serveAuthorize)
	auth.HandleFunc("GET "+qrPath, s.serveQR)
	auth.HandleFunc("GET "+statusPath, s.serveLoginStatus)
	auth.HandleFunc("GET "+avatarPath, s.serveAvatar)
	auth.Handle("GET /sandbox/static/", staticHandler())

	return map[string]http.Handler{
		HostOpenAPI:  api,
		HostOpenAuth: auth,
	}
}

func (s *Sim) servePublicKey(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = io.WriteString(w, s.pubPEM)
}

func (s *Sim) serveAvatar(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	_, _ = w.Write(s.avatar)
}

func validAppID(id string) bool {
	if len(id) != 16 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return false
		}
	}
	return true
}

var _ phone.Source = (*Sim)(nil)
