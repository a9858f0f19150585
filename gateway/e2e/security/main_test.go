// Package security_test proves issue 7's promises against the real
// shiming binary (embedded default: SQLite, the in-process sandbox, the
// built-in plugins as processes): no ID number or phone number is left in
// plain text in the data folder or the output, and vendor and plugin
// faults end in a calm message, a retry that works and a count. The
// binary is built and run by gateway/e2e/harness.
package security_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/sandboxclient"
	"github.com/shiming-id/shiming/gateway/e2e/harness"
	jt "github.com/shiming-id/shiming/gateway/journey/journeytest"
)

var shiming harness.Build

func TestMain(m *testing.M) {
	code := m.Run()
	shiming.Cleanup()
	os.Exit(code)
}

// password is every candidate's password.
const password = "Kaoshi2026ok"

// citizen returns a citizen of the sandbox registry.
func citizen(t *testing.T, ctx context.Context, srv *harness.Server, key string) sandboxclient.Citizen {
	t.Helper()
	c, err := srv.Sandbox().Citizen(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// smsLogin signs in with a code sent to phone (验码登录).
func smsLogin(t *testing.T, ctx context.Context, c *harness.Candidate, portal, phone string) *jt.Page {
	t.Helper()
	since := time.Now()
	p := c.Expect(c.Post("/"+portal+"/login/sms", url.Values{"action": {"send"}, "phone": {phone}}), "login")
	if p.Attr("sms-sent") != "1" {
		t.Fatalf("no login code sent to %s: %v", phone[:3], p.ErrorKinds())
	}
	code, err := c.Sandbox.WaitCode(ctx, phone, since)
	if err != nil {
		t.Fatal(err)
	}
	return c.Post("/"+portal+"/login/sms", url.Values{"action": {"verify"}, "phone": {phone}, "code": {code}})
}

// serverPID finds the process serving srv: the one started with its data
// folder.
func serverPID(t *testing.T, srv *harness.Server) int {
	t.Helper()
	want := []string{"--data", srv.DataDir}
	pids := processes(t, func(args []string) bool {
		for i := 0; i+1 < len(args); i++ {
			if args[i] == want[0] && args[i+1] == want[1] {
				return true
			}
		}
		return false
	})
	if len(pids) != 1 {
		t.Fatalf("%d processes serve %s", len(pids), srv.DataDir)
	}
	return pids[0]
}

// pluginPID finds the process of the built-in plugin name that srv's
// host runs (`shiming plugin NAME`, a child of the server).
func pluginPID(t *testing.T, srv *harness.Server, name string) int {
	t.Helper()
	parent := serverPID(t, srv)
	pids := processes(t, func(args []string) bool {
		return len(args) == 3 && args[1] == "plugin" && args[2] == name
	})
	for _, pid := range pids {
		if ppid(pid) == parent {
			return pid
		}
	}
	t.Fatalf("no plugin process %s under %d", name, parent)
	return 0
}

// processes lists the pids whose command line matches.
func processes(t *testing.T, match func(args []string) bool) []int {
	t.Helper()
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		if match(strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")) {
			pid, _ := strconv.Atoi(filepath.Base(d))
			out = append(out, pid)
		}
	}
	return out
}

var statRE = regexp.MustCompile(`^\d+ \(.*\) \S (\d+) `)

// ppid is a process's parent, or 0.
func ppid(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	m := statRE.FindSubmatch(b)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// signal sends sig to pid.
func signal(t *testing.T, pid int, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatalf("signal %v to %d: %v", sig, pid, err)
	}
}
