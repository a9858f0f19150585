package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk/providertest"
)

// fakeAcme is Acme's API as Acme's own test double would fake it, and the
// user's phone in front of it (it implements providertest.Phone).
type fakeAcme struct {
	srv    *httptest.Server
	people providertest.People

	mu       sync.Mutex
	apps     map[string]string // app id → secret
	sessions map[string]*acmeSession
	byQR     map[string]string // qr_url → session id
	faces    map[string]*acmeFace
	byFace   map[string]string // face_url → certify id
	slow     chan struct{}
}

type acmeSession struct {
	app, callback, state string
	status               string
	code                 string
	used                 bool
	expires              time.Time
}

type acmeFace struct {
	name, idNumber string
	status, reason string
}

func newFakeAcme(t *testing.T) *fakeAcme {
	f := &fakeAcme{
		apps:     map[string]string{"app-1": "secret-1", "app-2": "secret-2"},
		sessions: map[string]*acmeSession{},
		byQR:     map[string]string{},
		faces:    map[string]*acmeFace{},
		byFace:   map[string]string{},
		people: providertest.People{
			Match:    providertest.Person{Name: "张三", IDNumber: "11010519491231002X", Phone: "13800138000"},
			Mismatch: providertest.Person{Name: "李四", IDNumber: "11010519491231002X"},
			FaceFail: providertest.Person{Name: "王五", IDNumber: "440524188001010014"},
		},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/ping", f.ping)
	mux.HandleFunc("POST /v1/qr/sessions", f.beginScan)
	mux.HandleFunc("GET /v1/qr/sessions/{id}", f.pollScan)
	mux.HandleFunc("POST /v1/oauth/token", f.token)
	mux.HandleFunc("POST /v1/face/sessions", f.beginFace)
	mux.HandleFunc("GET /v1/face/sessions/{id}", f.queryFace)
	f.srv = httptest.NewServer(f.authenticated(mux))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAcme) config(app string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"base_url": f.srv.URL, "app_id": app, "app_secret": f.apps[app]})
	return b
}

func randomID(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, code string) {
	reply(w, status, apiError{Code: code, Message: strings.ToLower(code)})
}

type appKey struct{}

// authenticated checks the app and its signature, and holds requests
// while the API is slow.
func (f *fakeAcme) authenticated(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		app := r.Header.Get("X-Acme-App")
		f.mu.Lock()
		secret, ok := f.apps[app]
		slow := f.slow
		f.mu.Unlock()
		want := sign([]byte(secret), r.Method, r.URL.Path, body)
		if !ok || !hmac.Equal([]byte(want), []byte(r.Header.Get("X-Acme-Signature"))) {
			fail(w, http.StatusUnauthorized, "BAD_SIGNATURE")
			return
		}
		if slow != nil {
			select {
			case <-slow:
			case <-r.Context().Done():
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), appKey{}, app)))
	})
}

func (f *fakeAcme) makeSlow() func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan struct{})
	f.slow = ch
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		close(ch)
		f.slow = nil
	}
}

func (f *fakeAcme) ping(w http.ResponseWriter, _ *http.Request) { reply(w, http.StatusOK, struct{}{}) }

func (f *fakeAcme) beginScan(w http.ResponseWriter, r *http.Request) {
	var in struct{ CallbackURL, State string }
	if json.NewDecoder(r.Body).Decode(&in) != nil {
		fail(w, http.StatusBadRequest, "BAD_REQUEST")
		return
	}
	id, qr := randomID("ses_"), f.srv.URL+"/qr/"+randomID("")
	s := &acmeSession{app: r.Context().Value(appKey{}).(string), callback: in.CallbackURL, state: in.State,
		status: "waiting", expires: time.Now().Add(2 * time.Minute)}
	f.mu.Lock()
	f.sessions[id], f.byQR[qr] = s, id
	f.mu.Unlock()
	reply(w, http.StatusOK, map[string]any{"session_id": id, "qr_url": qr, "expires_at": s.expires.Unix()})
}

// session finds a session of the calling app; the lock is held.
func (f *fakeAcme) session(r *http.Request, id string) *acmeSession {
	s, ok := f.sessions[id]
	if !ok || s.app != r.Context().Value(appKey{}).(string) {
		return nil
	}
	if s.status != "confirmed" && s.status != "cancelled" && time.Now().After(s.expires) {
		s.status = "expired"
	}
	return s
}

func (f *fakeAcme) pollScan(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.session(r, r.PathValue("id"))
	if s == nil {
		fail(w, http.StatusNotFound, "SESSION_NOT_FOUND")
		return
	}
	out := map[string]string{"status": s.status}
	if s.status == "confirmed" {
		out["auth_code"] = s.code
	}
	reply(w, http.StatusOK, out)
}

func (f *fakeAcme) token(w http.ResponseWriter, r *http.Request) {
	var in struct {
		SessionID string `json:"session_id"`
		AuthCode  string `json:"auth_code"`
	}
	if json.NewDecoder(r.Body).Decode(&in) != nil {
		fail(w, http.StatusBadRequest, "BAD_REQUEST")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.session(r, in.SessionID)
	switch {
	case s == nil:
		fail(w, http.StatusNotFound, "SESSION_NOT_FOUND")
		return
	case s.code == "" || s.code != in.AuthCode:
		fail(w, http.StatusBadRequest, "CODE_INVALID")
		return
	case s.used:
		fail(w, http.StatusBadRequest, "CODE_USED")
		return
	}
	s.used = true
	m := f.people.Match
	reply(w, http.StatusOK, map[string]any{"open_id": "op_" + s.app, "union_id": "un_zhangsan", "nickname": "阿三",
		"real_name": m.Name, "id_number": m.IDNumber, "verified": true, "serial": randomID("sn_")})
}

func (f *fakeAcme) beginFace(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name     string `json:"name"`
		IDNumber string `json:"id_number"`
	}
	if json.NewDecoder(r.Body).Decode(&in) != nil || in.Name == "" {
		fail(w, http.StatusBadRequest, "BAD_REQUEST")
		return
	}
	id, u := randomID("cert_"), f.srv.URL+"/face/"+randomID("")
	f.mu.Lock()
	f.faces[id], f.byFace[u] = &acmeFace{name: in.Name, idNumber: in.IDNumber, status: "pending"}, id
	f.mu.Unlock()
	reply(w, http.StatusOK, map[string]any{"certify_id": id, "face_url": u, "expires_at": time.Now().Add(5 * time.Minute).Unix()})
}

func (f *fakeAcme) queryFace(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fc, ok := f.faces[r.PathValue("id")]
	if !ok {
		fail(w, http.StatusNotFound, "CERTIFY_NOT_FOUND")
		return
	}
	reply(w, http.StatusOK, map[string]string{"status": fc.status, "reason": fc.reason, "serial": "sn_face"})
}

// The phone.

var errNoSuchQR = errors.New("fake acme: no such QR code")

func (f *fakeAcme) byQRCode(qr string) (*acmeSession, error) {
	s, ok := f.sessions[f.byQR[qr]]
	if !ok {
		return nil, errNoSuchQR
	}
	return s, nil
}

func (f *fakeAcme) Scan(_ context.Context, qr string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.byQRCode(qr)
	if err == nil {
		s.status = "scanned"
	}
	return err
}

// Approve confirms and returns the redirect Acme sends the browser to.
func (f *fakeAcme) Approve(_ context.Context, qr string) (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.byQRCode(qr)
	if err != nil {
		return nil, err
	}
	s.status, s.code = "confirmed", randomID("ac_")
	return map[string]string{"auth_code": s.code, "state": s.state}, nil
}

func (f *fakeAcme) Cancel(_ context.Context, qr string) (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.byQRCode(qr)
	if err != nil {
		return nil, err
	}
	s.status = "cancelled"
	return map[string]string{"error": "access_denied", "state": s.state}, nil
}

func (f *fakeAcme) Expire(_ context.Context, qr string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.byQRCode(qr)
	if err == nil {
		s.expires = time.Now().Add(-time.Second)
	}
	return err
}

func (f *fakeAcme) Face(_ context.Context, faceURL string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fc, ok := f.faces[f.byFace[faceURL]]
	if !ok {
		return errors.New("fake acme: no such face session")
	}
	fc.status = "passed"
	if fc.name == f.people.FaceFail.Name {
		fc.status, fc.reason = "failed", "FACE_MISMATCH"
	}
	return nil
}

// SMSCode: Acme sends no SMS.
func (f *fakeAcme) SMSCode(context.Context, string) (string, error) {
	return "", errors.New("fake acme: no SMS capability")
}

var _ providertest.Phone = (*fakeAcme)(nil)
