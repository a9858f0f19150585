package ctid

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/citizens"
	"github.com/shiming-id/shiming/contrib/sandbox/fault"
	"github.com/shiming-id/shiming/contrib/sandbox/simenv"
)

// Keys are slow to make under -race: the tests share one set.
var (
	keysOnce            sync.Once
	platformKey, orgKey *rsa.PrivateKey
	otherKey            *rsa.PrivateKey
)

func testKeys(tb testing.TB) {
	keysOnce.Do(func() {
		for _, k := range []**rsa.PrivateKey{&platformKey, &orgKey, &otherKey} {
			key, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			*k = key
		}
	})
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

type fixture struct {
	t      *testing.T
	sim    *Sim
	srv    *httptest.Server
	clock  *clock
	faults *fault.Set
	reg    *citizens.Registry
}

const (
	testOrg  = "SBXTEST00001"
	otherOrg = "SBXOTHER0002"
)

func newFixture(t *testing.T, opts Options) *fixture {
	testKeys(t)
	f := &fixture{t: t, clock: &clock{t: time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)}, faults: &fault.Set{}, reg: citizens.Default()}
	mux := http.NewServeMux()
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	opts.PlatformKey = platformKey
	sim, err := New(simenv.Env{Logger: slog.New(slog.DiscardHandler), Now: f.clock.Now, PublicURL: f.srv.URL,
		Citizens: f.reg, Faults: f.faults}, []Org{
		{OrgCode: testOrg, Name: "测试机构", OrgPublicKeyPEM: PublicKeyPEM(&orgKey.PublicKey)},
		{OrgCode: otherOrg, Name: "另一机构", OrgPublicKeyPEM: PublicKeyPEM(&otherKey.PublicKey)},
	}, opts)
	if err != nil {
		t.Fatal(err)
	}
	f.sim = sim
	for host, h := range sim.Routes() {
		mux.Handle("/"+host+"/", http.StripPrefix("/"+host, h))
	}
	return f
}

// result is a verified response bizPackage.
type result struct {
	ResultCode string         `json:"resultCode"`
	ResultDesc string         `json:"resultDesc"`
	OrgCode    string         `json:"orgCode"`
	BizData    map[string]any `json:"bizData"`
}

// post sends a raw body and verifies the platform's signature.
func (f *fixture) post(path string, body []byte) result {
	f.t.Helper()
	resp, err := f.srv.Client().Post(f.srv.URL+"/"+Host+path, "application/json", bytes.NewReader(body))
	if err != nil {
		f.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		f.t.Fatalf("POST %s: HTTP %d", path, resp.StatusCode)
	}
	var env Envelope
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		f.t.Fatalf("POST %s: %v", path, err)
	}
	if err := Verify(&platformKey.PublicKey, []byte(env.BizPackage), env.Sign); err != nil {
		f.t.Fatalf("POST %s: response signature: %v", path, err)
	}
	var r result
	if err := json.Unmarshal([]byte(env.BizPackage), &r); err != nil {
		f.t.Fatalf("POST %s: bizPackage: %v", path, err)
	}
	if r.ResultDesc == "" {
		f.t.Fatalf("POST %s: no resultDesc: %+v", path, r)
	}
	return r
}

// call signs bizData as an org and posts it.
func (f *fixture) call(path, orgCode string, key *rsa.PrivateKey, bizData any) result {
	f.t.Helper()
	pkg, _ := json.Marshal(map[string]any{"orgCode": orgCode, "bizType": 6000, "bizData": bizData})
	sign, err := Sign(key, pkg)
	if err != nil {
		f.t.Fatal(err)
	}
	body, _ := json.Marshal(Envelope{BizPackage: string(pkg), Sign: sign})
	return f.post(path, body)
}

func (f *fixture) org(path string, bizData any) result {
	return f.call(path, testOrg, orgKey, bizData)
}

func want(t *testing.T, r result, code string) {
	t.Helper()
	if r.ResultCode != code {
		t.Fatalf("resultCode = %s (%s), want %s", r.ResultCode, r.ResultDesc, code)
	}
}

func (f *fixture) apply(mode string) map[string]any {
	f.t.Helper()
	r := f.org("/v1/apply", map[string]string{"authMode": mode})
	want(f.t, r, CodeOK)
	return r.BizData
}

func (f *fixture) retain(name, idNo string) string {
	f.t.Helper()
	b, _ := json.Marshal(map[string]string{"name": name, "idNo": idNo, "packageName": "shiming"})
	s, err := EncryptRetainData(&platformKey.PublicKey, b)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

func (f *fixture) citizen(key string) citizens.Citizen {
	c, ok := f.reg.ByKey(key)
	if !ok {
		f.t.Fatalf("no citizen %s", key)
	}
	return c
}
