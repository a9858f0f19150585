package alipay

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/citizens"
	"github.com/shiming-id/shiming/contrib/sandbox/fault"
	"github.com/shiming-id/shiming/contrib/sandbox/phone"
	"github.com/shiming-id/shiming/contrib/sandbox/simenv"
)

// App ids of the test apps.
const (
	appA = "2021000000000001" // holds the real-name permission
	appB = "2021000000000002"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func testKey(t testing.TB, name string) *rsa.PrivateKey {
	t.Helper()
	k, err := parsePrivateKey(readTestdata(t, name+"_private.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// fixture is a simulator behind an HTTP server, as the sandbox frame
// mounts it: /<host>/<path>.
type fixture struct {
	sim    *Sim
	srv    *httptest.Server
	clock  *clock
	faults *fault.Set
	reg    *citizens.Registry
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	dataDir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dataDir, dataSubdir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, dataSubdir, keyFile), []byte(readTestdata(t, "sandbox_private.pem")), 0o600); err != nil {
		t.Fatal(err)
	}
	f := &fixture{
		clock:  &clock{t: time.Now().Truncate(time.Second)}, // third-party SDKs stamp requests with the real time
		faults: &fault.Set{},
		reg:    citizens.Default(),
	}
	var handler http.Handler = http.NotFoundHandler()
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(f.srv.Close)
	env := simenv.Env{
		Now:       f.clock.Now,
		PublicURL: f.srv.URL,
		DataDir:   dataDir,
		Citizens:  f.reg,
		Faults:    f.faults,
	}
	sim, err := New(env, []App{
		{AppID: appA, Name: "测试报名系统", AppPublicKeyPEM: readTestdata(t, "app_a_public.pem"), RealNameFields: true},
		{AppID: appB, Name: "另一个应用", AppPublicKeyPEM: readTestdata(t, "app_b_public.pem")},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.sim = sim
	mux := http.NewServeMux()
	for host, h := range sim.Routes() {
		mux.Handle("/"+host+"/", http.StripPrefix("/"+host, h))
	}
	handler = mux
	return f
}

func (f *fixture) gatewayURL() string { return f.srv.URL + "/" + HostOpenAPI + "/gateway.do" }

// signed returns the parameters of a request by app, signed with key, the
// way an SDK builds them: common parameters, extra top-level ones and
// biz_content.
func (f *fixture) signed(t testing.TB, appID string, key *rsa.PrivateKey, method string, extra map[string]string, biz any) url.Values {
	t.Helper()
	v := url.Values{}
	v.Set("app_id", appID)
	v.Set("method", method)
	v.Set("format", "JSON")
	v.Set("charset", "utf-8")
	v.Set("sign_type", "RSA2")
	v.Set("timestamp", f.clock.Now().In(beijing).Format(timeFormat))
	v.Set("version", "1.0")
	for k, x := range extra {
		v.Set(k, x)
	}
	if biz != nil {
		b, err := json.Marshal(biz)
		if err != nil {
			t.Fatal(err)
		}
		v.Set("biz_content", string(b))
	}
	sign, err := signRSA2(key, []byte(signatureBase(v)))
	if err != nil {
		t.Fatal(err)
	}
	v.Set("sign", sign)
	return v
}

// post sends form parameters to the gateway and returns the body.
func (f *fixture) post(t testing.TB, v url.Values) []byte {
	t.Helper()
	resp, err := f.srv.Client().Post(f.gatewayURL(), "application/x-www-form-urlencoded;charset=utf-8", strings.NewReader(v.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("gateway status %d: %s", resp.StatusCode, b)
	}
	return b
}

// response is a parsed gateway answer.
type response struct {
	node   string
	raw    []byte // the node's value exactly as sent
	fields map[string]any
	sign   string
}

// parseResponse checks the {"<node>":<value>[,"sign":"..."]} shape, node
// first, verifies the signature (when present) over the raw value bytes,
// and decodes the node.
func parseResponse(t testing.TB, pub *rsa.PublicKey, body []byte) response {
	t.Helper()
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, body)
	}
	var r response
	for k, v := range members {
		if k == "sign" {
			if err := json.Unmarshal(v, &r.sign); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if r.node != "" {
			t.Fatalf("more than one node in %s", body)
		}
		r.node, r.raw = k, v
	}
	if !bytes.HasPrefix(body, []byte(`{"`+r.node+`":`)) {
		t.Fatalf("node %s is not first: %s", r.node, body)
	}
	if r.sign != "" {
		if err := verifyRSA2(pub, r.raw, r.sign); err != nil {
			t.Fatalf("signature does not verify over the node bytes: %v: %s", err, body)
		}
	}
	d := json.NewDecoder(bytes.NewReader(r.raw))
	d.UseNumber()
	if err := d.Decode(&r.fields); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r response) str(key string) string {
	s, _ := r.fields[key].(string)
	return s
}

// login runs the website login on the phone for a citizen and returns
// the auth_code the callback carries.
func (f *fixture) login(t testing.TB, appID, scope, holderKey string) string {
	t.Helper()
	q := url.Values{"app_id": {appID}, "scope": {scope}, "redirect_uri": {"https://gateway.example/cb/alipay"}, "state": {"st-" + holderKey + "-" + randHex(4)}}
	ctx := context.Background()
	it, found := f.sim.Lookup(ctx, f.srv.URL+"/"+HostOpenAuth+authorizePath+"?"+q.Encode())
	if !found {
		t.Fatal("Lookup did not recognise the authorize URL")
	}
	out, err := f.sim.Act(ctx, it.ID, phone.Confirm, f.citizen(t, holderKey))
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(out.Redirect)
	if err != nil {
		t.Fatal(err)
	}
	code := u.Query().Get("auth_code")
	if code == "" {
		t.Fatalf("no auth_code in %s", out.Redirect)
	}
	return code
}

func (f *fixture) citizen(t testing.TB, key string) citizens.Citizen {
	t.Helper()
	c, found := f.reg.ByKey(key)
	if !found {
		t.Fatalf("no citizen %s", key)
	}
	return c
}

// token exchanges an auth code for an access token.
func (f *fixture) token(t testing.TB, appID, appKey, code string) string {
	t.Helper()
	r := parseResponse(t, &testKey(t, "sandbox").PublicKey, f.post(t, f.signed(t, appID, testKey(t, appKey), methodOauthToken,
		map[string]string{"grant_type": "authorization_code", "code": code}, nil)))
	if r.str("access_token") == "" {
		t.Fatalf("no access token: %s", r.raw)
	}
	return r.str("access_token")
}
