// Package ha_test proves that Shiming runs as several replicas sharing
// PostgreSQL and Redis: a candidate whose every request goes to the other
// replica registers and applies, one replica is killed with SIGKILL in
// the middle of a journey and the journey completes on the other, and
// everything durable is in PostgreSQL afterwards.
//
// It runs the real binary: `shiming sandbox` as its own process and two
// `shiming serve` replicas behind a round-robin load balancer in the
// test. PostgreSQL and Redis come from SHIMING_TEST_POSTGRES_DSN and
// SHIMING_TEST_REDIS_ADDR (`. .ci/postgres.sh` and `. .ci/redis.sh`);
// without them the test skips, unless CI=true.
package ha_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shiming-id/shiming/contrib/loadtest/candidate"
	"github.com/shiming-id/shiming/contrib/sandbox/sandboxclient"
	"github.com/shiming-id/shiming/gateway/account"
	"github.com/shiming-id/shiming/gateway/e2e/harness"
	"github.com/shiming-id/shiming/gateway/password"
	"github.com/shiming-id/shiming/gateway/pii"
	"github.com/shiming-id/shiming/gateway/store/postgres"
	"github.com/shiming-id/shiming/gateway/store/postgres/pgtest"
	"github.com/shiming-id/shiming/gateway/store/redisstore/redistest"
	"github.com/shiming-id/shiming/gateway/store/sqlstore"
	"github.com/shiming-id/shiming/registration"
	"github.com/shiming-id/shiming/registration/catalog"
)

var build harness.Build

func TestMain(m *testing.M) {
	code := m.Run()
	build.Cleanup()
	os.Exit(code)
}

// cluster is the topology of the test.
type cluster struct {
	dir       string
	bin       string
	dsn       string
	sandbox   string // the sandbox's URL
	origin    string // the load balancer's URL: every replica's public_url
	keyFile   string
	replicas  []*replica
	balancer  *balancer
	store     *sqlstore.Store
	masterKey []byte
}

type replica struct {
	*proc
	backend *backend
	ops     string
}

func TestReplicasShareEveryJourney(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL-backed replicas; skipped with -short")
	}
	dsn := pgtest.DSN(t)
	redisAddr := redistest.Addr(t)
	prefix := redistest.Prefix(t)
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Second)
	defer cancel()

	c := startCluster(ctx, t, dsn, redisAddr, prefix)
	sb := &sandboxclient.Client{URL: c.sandbox, HTTP: &http.Client{Timeout: 30 * time.Second}}
	people := candidate.NewPeople(nil)
	env := candidate.Env{Gateway: c.origin, Sandbox: sb, StatusPoll: 200 * time.Millisecond}

	// 1. Alipay, both replicas up: every request goes to the other
	// replica than the one before, the phone's callback included.
	alipay, err := candidate.New(env, people.Synthetic())
	if err != nil {
		t.Fatal(err)
	}
	if err := alipay.Journey(ctx, "alipay", candidate.Trouble{}); err != nil {
		t.Fatalf("alipay journey across both replicas: %v", err)
	}
	log := c.balancer.log()
	perReplica := map[string]int{}
	for i, s := range log {
		perReplica[s.backend]++
		if i > 0 && s.backend == log[i-1].backend {
			t.Errorf("requests %d and %d (%s %s) both went to %s; the balancer must alternate", i-1, i, s.method, s.path, s.backend)
		}
	}
	if perReplica["replica-1"] < 10 || perReplica["replica-2"] < 10 {
		t.Fatalf("requests per replica %v: the journey did not use both", perReplica)
	}
	t.Logf("alipay journey: %d requests alternating over both replicas, registration number %s", len(log), alipay.Number)

	// 2. WeChat: the replica that began the QR session is killed right
	// after; the survivor's plugin polls it, exchanges the code and the
	// journey goes on there to the end.
	var killed *replica
	var plugins []int
	env.Observe = func(step string, _ time.Duration, err error) {
		if step != "choose" || err != nil || killed != nil {
			return
		}
		killed = c.replicaThatServed(t, http.MethodPost, "/choose")
		plugins = children(killed.cmd.Process.Pid)
		if len(plugins) == 0 {
			t.Errorf("%s runs no plugin processes", killed.name)
		}
		killed.kill(t)
	}
	wechat, err := candidate.New(env, people.Synthetic())
	if err != nil {
		t.Fatal(err)
	}
	before := len(c.balancer.log())
	if err := wechat.Journey(ctx, "wechat", candidate.Trouble{}); err != nil {
		t.Fatalf("wechat journey with a replica killed: %v", err)
	}
	if killed == nil {
		t.Fatal("no replica was killed: the journey has no choose step")
	}
	after := c.balancer.log()[before:]
	var survivor string
	for _, s := range after {
		if s.backend == killed.backend.name {
			continue
		}
		if survivor != "" && survivor != s.backend {
			t.Fatalf("requests went to %s and %s", survivor, s.backend)
		}
		survivor = s.backend
	}
	t.Logf("wechat journey: %s killed after choose; %d requests, the rest on %s; registration number %s",
		killed.name, len(after), survivor, wechat.Number)

	// 3. The killed replica's plugins exit with it (they watch their
	// parent).
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range plugins {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if alive(pid) {
			t.Errorf("plugin process %d of the killed %s still runs", pid, killed.name)
		}
	}

	// 4. Nothing is lost: both accounts, their evidence and their
	// applications with their numbers are in PostgreSQL.
	c.checkStored(ctx, t, alipay, "alipay")
	c.checkStored(ctx, t, wechat, "wechat")

	// 5. Short-lived state lived in Redis, not in the database.
	if keys := redistest.Keys(t, prefix); len(keys) == 0 {
		t.Errorf("no keys under %s: the replicas did not share state through Redis", prefix)
	}
	for _, table := range []string{"sessions", "flows", "kv", "counters"} {
		var n int
		if err := c.store.DB().QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%d rows in %s: with redis.addr set, short-lived state belongs in Redis", n, table)
		}
	}
}

// startCluster starts the sandbox, prepares the database and starts two
// replicas behind the balancer.
func startCluster(ctx context.Context, t *testing.T, dsn, redisAddr, prefix string) *cluster {
	t.Helper()
	c := &cluster{dir: t.TempDir(), bin: build.Path(t), dsn: dsn}

	// The load balancer's listener first: its URL is every replica's
	// public_url and the sandbox's allowed OIDC callback.
	lbLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.origin = "http://" + lbLn.Addr().String()

	addrs := freeAddrs(t, 5)
	sbAddr := addrs[0]
	c.sandbox = "http://" + sbAddr
	sbData := filepath.Join(c.dir, "sandbox-data")
	sb := startProc(t, "sandbox", c.bin, c.dir, "sandbox", "--listen", sbAddr, "--data", sbData,
		"--public-url", c.sandbox, "--oidc-redirect", c.origin+"/oidc/zwfw/callback")
	if err := sb.waitOK(ctx, c.sandbox+"/sandbox/healthz"); err != nil {
		t.Fatal(err)
	}

	// One master key for every replica: 32 random bytes, base64, 0600.
	c.masterKey = make([]byte, pii.KeySize)
	if _, err := rand.Read(c.masterKey); err != nil {
		t.Fatal(err)
	}
	c.keyFile = filepath.Join(c.dir, "master.key")
	if err := os.WriteFile(c.keyFile, []byte(base64.StdEncoding.EncodeToString(c.masterKey)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// The schema, and the sample exam open today, as an operator's
	// catalog import would leave them.
	if c.store, err = postgres.Open(ctx, dsn, postgres.Options{MaxOpenConns: 4}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.store.Close() })
	exam, err := catalog.SampleOpenAt(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.store.ImportCatalog(ctx, exam); err != nil {
		t.Fatal(err)
	}

	appsFile := filepath.Join(sbData, "sandbox", "sandbox-apps.yaml")
	var backends []*backend
	for i := range 2 {
		name := fmt.Sprintf("replica-%d", i+1)
		listen, ops := addrs[1+2*i], addrs[2+2*i]
		cfg := fmt.Sprintf(`listen: %s
ops_listen: %s
public_url: %s
data_dir: %q
storage:
  driver: postgres
  dsn: %q
redis:
  addr: %s
  prefix: %q
keys:
  master_key_file: %q
sandbox:
  public_url: %s
  apps_file: %q
log:
  level: info
`, listen, ops, c.origin, filepath.Join(c.dir, name), dsn, redisAddr, prefix, c.keyFile, c.sandbox, appsFile)
		path := filepath.Join(c.dir, name+".yaml")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		p := startProc(t, name, c.bin, c.dir, "serve", "--config", path)
		r := &replica{proc: p, backend: &backend{name: name, host: listen}, ops: "http://" + ops}
		// One after the other: each applies the migrations at start.
		if err := p.waitOK(ctx, r.ops+"/readyz"); err != nil {
			t.Fatal(err)
		}
		c.replicas = append(c.replicas, r)
		backends = append(backends, r.backend)
	}

	c.balancer = newBalancer(backends...)
	srv := &http.Server{Handler: c.balancer, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(lbLn) }()
	t.Cleanup(func() { srv.Close() })
	return c
}

// replicaThatServed returns the replica that answered the latest request
// with method whose path ends in suffix.
func (c *cluster) replicaThatServed(t *testing.T, method, suffix string) *replica {
	t.Helper()
	log := c.balancer.log()
	for i := len(log) - 1; i >= 0; i-- {
		s := log[i]
		if s.method != method || !strings.HasSuffix(s.path, suffix) {
			continue
		}
		for _, r := range c.replicas {
			if r.backend.name == s.backend {
				return r
			}
		}
	}
	t.Fatalf("no %s …%s in the balancer's log", method, suffix)
	return nil
}

// checkStored reads a candidate's account, evidence and application
// from PostgreSQL with the product's own code and the shared key.
func (c *cluster) checkStored(ctx context.Context, t *testing.T, cand *candidate.Candidate, scan string) {
	t.Helper()
	keys, err := pii.New(c.masterKey)
	if err != nil {
		t.Fatal(err)
	}
	accounts, err := account.NewService(c.store, keys, password.DefaultParams, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	p := cand.Person
	a, err := accounts.ByIDNumber(ctx, p.IDNumber)
	if err != nil {
		t.Fatalf("account of %s: %v", p, err)
	}
	if a.Name != p.Name || a.Phone != p.Phone {
		t.Errorf("account of %s holds %s %s", p, a.Name, a.Phone)
	}
	if _, err := accounts.CheckPassword(ctx, p.IDNumber, cand.Password); err != nil {
		t.Errorf("account of %s: the password does not verify: %v", p, err)
	}
	ev, err := accounts.Evidence(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ev {
		got = append(got, e.Provider+":"+e.Level)
	}
	wants := []struct {
		what string
		ok   func(string) bool
	}{
		{"the scan by " + scan, func(g string) bool { return strings.HasPrefix(g, scan+":") }},
		{"the phone", func(g string) bool { return g == "sms:phone" }},
		{"a face check", func(g string) bool { return strings.HasSuffix(g, ":face") }},
	}
	for _, w := range wants {
		if !slices.ContainsFunc(got, w.ok) {
			t.Errorf("evidence of %s is %v, lacks %s", p, got, w.what)
		}
	}
	app, err := c.store.Application(ctx, candidate.DefaultExam, a.ID)
	if err != nil {
		t.Fatalf("application of %s: %v", p, err)
	}
	if app.Step != registration.StepComplete || fmt.Sprintf("%06d", app.Number) != cand.Number {
		t.Errorf("application of %s: step %v number %d, the candidate was shown %s", p, app.Step, app.Number, cand.Number)
	}
}
