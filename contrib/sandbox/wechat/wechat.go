// Package wechat simulates WeChat for the sandbox: website QR login on
// open.weixin.qq.com with its long-poll, the OAuth and mini-program APIs
// and real-name face verification on api.weixin.qq.com, following the
// vendor's documents where they exist (see the sandbox README).
package wechat

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/citizens"
	"github.com/shiming-id/shiming/contrib/sandbox/simenv"
)

//go:embed web
var webFS embed.FS

// Hosts served by the simulator. SandboxHost is not a real WeChat host: it
// stands in for what a mini-program does on the phone (wx.login and the
// phone-number button) and is documented as sandbox-defined.
const (
	OpenHost     = "open.weixin.qq.com"
	LongPollHost = "lp.open.weixin.qq.com"
	APIHost      = "api.weixin.qq.com"
	AvatarHost   = "thirdwx.qlogo.cn"
	SandboxHost  = "wxa.sandbox"
)

// Vendor is the name used for fault rules and phone items.
const Vendor = "wechat"

// App is a WeChat application the sandbox knows. One sandbox app plays
// both the open-platform website app (QR login) and the mini-program
// (jscode2session, face verification), so one openid covers both.
type App struct {
	AppID  string `yaml:"app_id"`
	Secret string `yaml:"secret"`
	Name   string `yaml:"name"`
	// RedirectDomains are the registered authorization callback domains:
	// a redirect_uri must have one of these host names ("127.0.0.1"), or
	// exactly this host:port when an entry carries a port.
	RedirectDomains []string `yaml:"redirect_domains"`
}

// GenerateApp returns a demo app with a fresh AppID and AppSecret whose
// callbacks may go to loopback hosts.
func GenerateApp(name string) (App, error) {
	id, err := randomHex(8)
	if err != nil {
		return App{}, err
	}
	secret, err := randomHex(16)
	if err != nil {
		return App{}, err
	}
	return App{AppID: "wx" + id, Secret: secret, Name: name, RedirectDomains: []string{"127.0.0.1", "localhost"}}, nil
}

// Options tune the simulator; zero values take the defaults.
type Options struct {
	QRTTL    time.Duration // how long a login QR code lives (5 min)
	CodeTTL  time.Duration // how long an OAuth code or js_code lives (5 min)
	LongPoll time.Duration // how long the long-poll holds an unchanged state (25 s)
	FaceTTL  time.Duration // how long a verify_id lives (3600 s)
}

func (o Options) withDefaults() Options {
	if o.QRTTL <= 0 {
		o.QRTTL = 5 * time.Minute
	}
	if o.CodeTTL <= 0 {
		o.CodeTTL = 5 * time.Minute
	}
	if o.LongPoll <= 0 {
		o.LongPoll = 25 * time.Second
	}
	if o.FaceTTL <= 0 {
		o.FaceTTL = time.Hour
	}
	return o
}

const (
	accessTokenTTL  = 2 * time.Hour
	refreshTokenTTL = 30 * 24 * time.Hour
	retention       = time.Hour // how long finished records are kept to answer 40163
)

// Sim is the simulated WeChat.
type Sim struct {
	env   simenv.Env
	log   *slog.Logger
	opts  Options
	apps  map[string]App
	idKey []byte
	pages *template.Template

	mu           sync.Mutex
	sessions     map[string]*qrSession // by uuid
	codes        map[string]*grant     // website OAuth codes
	jsCodes      map[string]*grant     // mini-program js_codes
	phoneCodes   map[string]*grant     // getPhoneNumber codes
	tokens       map[string]*userToken // sns access tokens
	refresh      map[string]*userToken // refresh tokens
	serverTokens map[string]*serverToken
	faces        map[string]*faceSession // by verify_id
	faceSeq      map[string]bool         // appid + "\x00" + out_seq_no
	openIDs      map[string]citizens.Citizen
	polling      int // long-polls being held, for tests
	lastSweep    time.Time

	stop     chan struct{} // closed by Close: held long-polls answer
	stopOnce sync.Once
}

// New returns the simulator for the given apps. The HMAC key that derives
// openids and unionids is kept in env.DataDir, so ids survive restarts.
func New(env simenv.Env, apps []App, opts Options) (*Sim, error) {
	if env.Citizens == nil {
		return nil, errors.New("wechat: env has no citizen registry")
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	s := &Sim{
		env: env, log: env.Logger, opts: opts.withDefaults(), apps: map[string]App{},
		sessions: map[string]*qrSession{}, codes: map[string]*grant{}, jsCodes: map[string]*grant{},
		phoneCodes: map[string]*grant{}, tokens: map[string]*userToken{}, refresh: map[string]*userToken{},
		serverTokens: map[string]*serverToken{}, faces: map[string]*faceSession{}, faceSeq: map[string]bool{},
		openIDs: map[string]citizens.Citizen{}, stop: make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	var problems []string
	for i, a := range apps {
		switch {
		case a.AppID == "" || a.Secret == "":
			problems = append(problems, fmt.Sprintf("app %d: app_id and secret are required", i))
		case len(a.RedirectDomains) == 0:
			problems = append(problems, fmt.Sprintf("app %s: redirect_domains is empty", a.AppID))
		}
		if _, dup := s.apps[a.AppID]; dup {
			problems = append(problems, fmt.Sprintf("app %s: duplicate app_id", a.AppID))
		}
		s.apps[a.AppID] = a
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("wechat: %s", strings.Join(problems, "; "))
	}
	key, err := loadOrCreateKey(env.DataDir, "wechat-id-key")
	if err != nil {
		return nil, fmt.Errorf("wechat: id key: %w", err)
	}
	s.idKey = key
	t, err := template.ParseFS(webFS, "web/*.tmpl")
	if err != nil {
		return nil, fmt.Errorf("wechat: templates: %w", err)
	}
	s.pages = t
	return s, nil
}

// Routes returns the handler of every simulated host.
func (s *Sim) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		OpenHost:     s.openHandler(),
		LongPollHost: http.HandlerFunc(s.longPoll),
		APIHost:      http.HandlerFunc(s.api),
		AvatarHost:   http.HandlerFunc(s.avatar),
		SandboxHost:  s.sandboxHandler(),
	}
}

// Close answers every held long-poll at once, so that a server can shut
// down without waiting for them. The simulator keeps serving afterwards,
// without holding.
func (s *Sim) Close() {
	s.stopOnce.Do(func() { close(s.stop) })
}

// loadOrCreateKey reads a 32-byte key from dir/name, creating it (mode
// 0600) on first use; with no dir the key lives in memory only.
func loadOrCreateKey(dir, name string) ([]byte, error) {
	key := make([]byte, 32)
	if dir == "" {
		_, _ = rand.Read(key)
		return key, nil
	}
	path := filepath.Join(dir, name)
	if b, err := os.ReadFile(path); err == nil {
		k, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(k) != 32 {
			return nil, fmt.Errorf("%s is not 64 hex digits", path)
		}
		return k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	_, _ = rand.Read(key)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return loadOrCreateKey(dir, name)
	}
	if err != nil {
		return nil, err
	}
	if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
		f.Close()
		return nil, err
	}
	return key, f.Close()
}

// derive returns a stable pseudonym for parts under the per-folder key.
func (s *Sim) derive(parts ...string) string {
	m := hmac.New(sha256.New, s.idKey)
	m.Write([]byte(strings.Join(parts, "\x00")))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// openID is stable per (app, person); unionID per person.
func (s *Sim) openID(appID, idNumber string) string {
	return "o" + s.derive("openid", appID, idNumber)[:27]
}
func (s *Sim) unionID(idNumber string) string { return "o" + s.derive("unionid", idNumber)[:27] }

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// token returns n random bytes as URL-safe text.
func token(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// rid is the request id WeChat appends to errmsg.
func rid() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%08x-%08x-%08x", binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:]), binary.BigEndian.Uint32(b[8:]))
}

// writeJSON answers HTTP 200, as WeChat does even for errors.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// apiError is a WeChat error body.
type apiError struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// writeErr answers errcode with its errmsg and a rid.
func writeErr(w http.ResponseWriter, code int) {
	writeJSON(w, apiError{ErrCode: code, ErrMsg: errMsg(code) + ", rid: " + rid()})
}

// errMsg is the errmsg WeChat sends with a code.
func errMsg(code int) string {
	if m, ok := errMsgs[code]; ok {
		return m
	}
	return "sandbox injected fault"
}

var errMsgs = map[int]string{
	-1:    "system error",
	40001: "invalid credential, access_token is invalid or not latest",
	40002: "invalid grant_type",
	40003: "invalid openid",
	40013: "invalid appid",
	40029: "invalid code",
	40030: "invalid refresh_token",
	40066: "invalid url",
	40097: "invalid args",
	40125: "invalid appsecret",
	40163: "code been used",
	40226: "code blocked",
	41001: "access_token missing",
	41002: "appid missing",
	41004: "appsecret missing",
	41008: "missing code",
	41009: "missing openid",
	42001: "access_token expired",
	42002: "refresh_token expired",
	42003: "code expired",
	43002: "require POST method",
	45009: "reach max api daily quota limit",
	45011: "api minute-quota reach limit  mustslower  retry next minute",
	47001: "data format error",
	48001: "api unauthorized",
}

// sweepLocked forgets records finished long ago. s.mu must be held.
func (s *Sim) sweepLocked(now time.Time) {
	if now.Sub(s.lastSweep) < time.Minute {
		return
	}
	s.lastSweep = now
	old := now.Add(-retention)
	for k, q := range s.sessions {
		if q.expires.Before(old) {
			delete(s.sessions, k)
		}
	}
	for _, m := range []map[string]*grant{s.codes, s.jsCodes, s.phoneCodes} {
		for k, g := range m {
			if g.expires.Before(old) {
				delete(m, k)
			}
		}
	}
	for _, m := range []map[string]*userToken{s.tokens, s.refresh} {
		for k, t := range m {
			if t.expires.Before(old) {
				delete(m, k)
			}
		}
	}
	for k, t := range s.serverTokens {
		if t.expires.Before(old) {
			delete(s.serverTokens, k)
		}
	}
	for k, f := range s.faces {
		if f.expires.Before(old) {
			delete(s.faces, k)
			delete(s.faceSeq, f.appID+"\x00"+f.outSeqNo)
		}
	}
}
