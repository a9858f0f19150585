package security_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/sandboxclient"
	"github.com/shiming-id/shiming/gateway/e2e/harness"
	jt "github.com/shiming-id/shiming/gateway/journey/journeytest"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

// TestNoPersonalDataAtRestOrInLogs runs the candidate journeys against
// the real binary with debug logging — registrations by WeChat and by
// Alipay, a registration begun from the government portal's real-name
// claims, a password login, a phone change and an SMS login — then stops it and reads every file under its data
// folder (the SQLite database with its WAL and shared-memory files, keys,
// the sandbox's files: everything) and every line it printed (gateway,
// plugins and the in-process sandbox all write there). No ID number, no
// first 14 characters of one (region and birth date), and no phone
// number of the people involved appears anywhere in plain text.
func TestNoPersonalDataAtRestOrInLogs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	srv := harness.Start(t, shiming.Path(t), harness.Options{Env: []string{"SHIMING_LOG_LEVEL=debug"}})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	wechat, alipay, gov := citizen(t, ctx, srv, "c005"), citizen(t, ctx, srv, "c006"), citizen(t, ctx, srv, "c007")
	const newPhone = "13912340055"

	// Registrations.
	a := srv.Candidate(t)
	a.Register(ctx, "hunanpea", "wechat", wechat, password)
	b := srv.Candidate(t)
	b.Register(ctx, "hxw", "alipay", alipay, password)
	alipayBound := time.Now()
	registerFromGovPortal(t, ctx, srv, gov)

	// Password login.
	a.SignIn("hunanpea", wechat, password)
	a.Expect(a.Post("/hunanpea/logout", nil), "message")

	// Phone change: 忘记密码 → 修改手机号码 → code to the new number →
	// face → commit.
	c := srv.Candidate(t)
	c.Expect(c.Get("/hunanpea/forgot"), "forgot")
	opts := c.Expect(c.Post("/hunanpea/forgot", url.Values{"id_number": {wechat.IDNumber}}), "forgot_options")
	base := jt.FlowBase(opts)
	c.Expect(c.Get(base+"change"), "forgot_change")
	since := time.Now()
	sent := c.Expect(c.Post(base+"change", url.Values{"action": {"send"}, "name": {wechat.Name}, "phone": {newPhone}}), "forgot_change")
	if sent.Attr("sms-sent") != "1" {
		t.Fatalf("no code to the new phone: %v", sent.ErrorKinds())
	}
	code, err := c.Sandbox.WaitCode(ctx, newPhone, since)
	if err != nil {
		t.Fatal(err)
	}
	c.Expect(c.Post(base+"change", url.Values{"action": {"verify"}, "name": {wechat.Name}, "phone": {newPhone}, "code": {code}}), "face")
	c.Expect(c.PassFace(ctx, base+"face", wechat), "forgot_confirm")
	c.Expect(c.Post(base+"confirm", nil), "message")

	// SMS login. The vendor (and the gateway) send one code a minute to
	// a number, and the Alipay candidate's number got its binding code
	// at registration.
	select {
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	case <-time.After(time.Until(alipayBound.Add(62 * time.Second))):
	}
	b.Expect(smsLogin(t, ctx, b, "hxw", alipay.Phone), "home")

	// Read the data folder while the server runs (the SQLite WAL and
	// shared-memory files exist only then) and again after it stopped.
	files := map[string][]byte{}
	readAll(t, srv.DataDir, "running", files)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	readAll(t, srv.DataDir, "stopped", files)
	if _, ok := files["running: "+filepath.Join(srv.DataDir, "shiming.db-wal")]; !ok {
		t.Fatalf("no WAL file while running: the search would miss the newest writes")
	}
	if _, ok := files["stopped: "+filepath.Join(srv.DataDir, "shiming.db")]; !ok {
		t.Fatalf("no database in %s: the search would prove nothing", srv.DataDir)
	}

	type secret struct{ what, value string }
	var secrets []secret
	for _, p := range []sandboxclient.Citizen{wechat, alipay, gov} {
		secrets = append(secrets,
			secret{p.Key + " ID number", p.IDNumber},
			secret{p.Key + " region and birth date", p.IDNumber[:14]},
			secret{p.Key + " phone", p.Phone})
	}
	secrets = append(secrets, secret{"c005 new phone", newPhone})

	log, err := os.ReadFile(srv.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	files["output: "+srv.LogPath] = log
	// The search must be able to see what it looks for: the masked forms
	// are in the output, as are debug lines and the journeys' own lines.
	for _, want := range []string{cnid.MaskPhone(newPhone), "level=DEBUG", "msg=login"} {
		if !bytes.Contains(log, []byte(want)) {
			t.Fatalf("the output lacks %q: the search would prove nothing", want)
		}
	}
	t.Logf("searched %d files, %d log lines", len(files), bytes.Count(log, []byte("\n")))

	for path, b := range files {
		for _, s := range secrets {
			if i := bytes.Index(b, []byte(s.value)); i >= 0 {
				t.Errorf("%s: the %s in plain text at byte %d: …%s…", path, s.what, i, masked(b, i, len(s.value), s.value))
			}
		}
	}
}

// readAll reads every file under dir into files, keyed by when and path.
func readAll(t *testing.T, dir, when string, files map[string][]byte) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // a running SQLite removed a transient file
		}
		files[when+": "+path] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// masked shows the context around a find, the find itself masked.
func masked(b []byte, i, n int, value string) string {
	from, to := max(i-60, 0), min(i+n+60, len(b))
	ctx := strings.ReplaceAll(string(b[from:to]), value, strings.Repeat("#", len(value)))
	return fmt.Sprintf("%q", ctx)
}

var (
	authRequestRE = regexp.MustCompile(`name="authRequestID" value="([^"]+)"`)
	formActionRE  = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
)

// registerFromGovPortal signs who in at the sandbox's government portal
// (政务服务网登录); the gateway trusts its real-name claims, so a
// registration begins at 绑定手机, and the candidate completes it.
func registerFromGovPortal(t *testing.T, ctx context.Context, srv *harness.Server, who sandboxclient.Citizen) {
	t.Helper()
	c := srv.Candidate(t)
	login := c.Get("/hunanpea/oidc/zwfw/start")
	id, action := authRequestRE.FindStringSubmatch(login.Body), formActionRE.FindStringSubmatch(login.Body)
	if id == nil || action == nil {
		t.Fatalf("no government portal login form at %s (HTTP %d)", login.URL, login.Status)
	}
	target, err := login.URL.Parse(action[1])
	if err != nil {
		t.Fatal(err)
	}
	phone := c.Expect(c.Post(target.String(), url.Values{"authRequestID": {id[1]}, "id_number": {who.IDNumber}, "password": {"sandbox123"}}), "realname_phone")
	base := jt.FlowBase(phone)
	c.Expect(c.BindPhone(ctx, base+"phone", who.Phone), "face")
	c.Expect(c.PassFace(ctx, base+"face", who), "realname_password")
	c.Expect(c.Post(base+"password", url.Values{"password": {password}, "password2": {password}}), "login")
}
