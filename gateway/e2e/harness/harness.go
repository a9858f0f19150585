// Package harness runs the real shiming binary for end-to-end tests: it
// builds it once per test process, starts it on free loopback ports with
// its own data folder, waits for readiness, keeps its output, stops it
// with SIGINT, and talks to its sandbox (virtual phone, SMS inbox, fault
// injection) and its metrics.
package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// MainPackage is the import path of the binary the harness builds.
const MainPackage = "github.com/shiming-id/shiming/gateway/cmd/shiming"

// Build compiles the shiming binary at most once per test process. The
// zero value is ready to use; call Cleanup (from TestMain) to remove it.
type Build struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// Path returns the binary, building it on first use with the go command
// of the toolchain running the tests. It is built without -race: the
// tests exercise the product, and a race-instrumented server is slow.
func (b *Build) Path(tb testing.TB) string {
	tb.Helper()
	b.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		b.dir, b.err = os.MkdirTemp("", "shiming-e2e-bin-")
		if b.err != nil {
			return
		}
		b.path, b.err = BuildBinary(ctx, b.dir)
	})
	if b.err != nil {
		tb.Fatalf("build shiming: %v", b.err)
	}
	return b.path
}

// Cleanup removes the built binary.
func (b *Build) Cleanup() {
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

// BuildBinary compiles MainPackage into dir and returns the binary's path.
func BuildBinary(ctx context.Context, dir string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "shiming")
	// The go command that runs the tests is on PATH.
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("building %s needs the go command: %w", MainPackage, err)
	}
	// -race=false wins over a GOFLAGS=-race (the tests' own -race is not
	// inherited anyway); VCS stamping needs git, which tests must not.
	cmd := exec.CommandContext(ctx, goCmd, "build", "-race=false", "-buildvcs=false", "-o", out, MainPackage)
	cmd.Dir = root
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s build: %w\n%s", goCmd, err, buf.String())
	}
	return out, nil
}

// ModuleRoot finds the folder holding go.mod, from the working directory
// up (go test runs a package's tests in the package's folder).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("harness: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Options configure a server.
type Options struct {
	// Env adds KEY=VALUE settings (SHIMING_LIMITS_…, SHIMING_LOG_LEVEL…).
	// Inherited SHIMING_* variables are dropped, so a developer's shell
	// does not change the tests.
	Env []string
	// Args are added after the harness's own flags.
	Args []string
	// ReadyTimeout bounds the wait for /readyz; the plugins start in the
	// background. Zero means 60 s.
	ReadyTimeout time.Duration
}

// Server is a running shiming process.
type Server struct {
	// URL is the public listener's base, e.g. http://127.0.0.1:41234.
	URL string
	// SandboxURL is the embedded sandbox's base.
	SandboxURL string
	// OpsURL is the ops listener's base (/readyz, /metrics).
	OpsURL string
	// Dir holds the data folder (Dir/data) and the output (Dir/shiming.log).
	Dir     string
	DataDir string
	LogPath string
	// HTTP is a client for the harness's own calls (no cookies).
	HTTP *http.Client

	cmd     *exec.Cmd
	logFile *os.File
	exited  chan struct{}
	waitErr error
	stopped bool
}

// Start starts a server for one test, stopped when the test ends; a
// non-zero exit fails the test, and the folder with the output and the
// data is kept when the test failed.
func Start(tb testing.TB, binary string, o Options) *Server {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout(o)+30*time.Second)
	defer cancel()
	s, err := StartServer(ctx, binary, o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Errorf("stop shiming: %v (output in %s)", err, s.LogPath)
		}
		if tb.Failed() {
			tb.Logf("shiming's output and data are kept in %s", s.Dir)
			return
		}
		s.Remove()
	})
	return s
}

func readyTimeout(o Options) time.Duration {
	if o.ReadyTimeout > 0 {
		return o.ReadyTimeout
	}
	return 60 * time.Second
}

// StartServer starts binary with its own data folder on free loopback
// ports and waits until /readyz answers 200. On an error the folder is
// kept and named in the error.
func StartServer(ctx context.Context, binary string, o Options) (*Server, error) {
	dir, err := os.MkdirTemp("", "shiming-e2e-server-")
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	public, ops, sb := ports[0], ports[1], ports[2]
	s := &Server{
		URL: "http://" + public, OpsURL: "http://" + ops, SandboxURL: "http://" + sb,
		Dir: dir, DataDir: filepath.Join(dir, "data"), LogPath: filepath.Join(dir, "shiming.log"),
		HTTP:   &http.Client{Timeout: 30 * time.Second},
		exited: make(chan struct{}),
	}
	if s.logFile, err = os.Create(s.LogPath); err != nil {
		return nil, err
	}
	args := append([]string{"serve", "--data", s.DataDir, "--listen", public, "--ops-listen", ops}, o.Args...)
	s.cmd = exec.Command(binary, args...)
	s.cmd.Dir = dir
	s.cmd.Env = append(cleanEnv(os.Environ()), "SHIMING_SANDBOX_LISTEN="+sb)
	s.cmd.Env = append(s.cmd.Env, o.Env...)
	s.cmd.Stdout, s.cmd.Stderr = s.logFile, s.logFile
	if err := s.cmd.Start(); err != nil {
		s.logFile.Close()
		return nil, fmt.Errorf("start %s: %w", binary, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(ctx, readyTimeout(o)); err != nil {
		_ = s.Stop()
		return nil, fmt.Errorf("%w; output and data in %s", err, dir)
	}
	return s, nil
}

// cleanEnv drops inherited SHIMING_* settings.
func cleanEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "SHIMING_") {
			out = append(out, kv)
		}
	}
	return out
}

// freePorts reserves n loopback addresses. The listeners are closed
// before the server binds them; nothing else on a test machine takes
// ephemeral ports that fast.
func freePorts(n int) ([]string, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var out []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("reserve a port: %w", err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	return out, nil
}

func (s *Server) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.OpsURL+"/readyz", nil)
		if err != nil {
			return err
		}
		resp, err := s.HTTP.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		select {
		case <-s.exited:
			return fmt.Errorf("shiming exited before it was ready: %v", s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("shiming not ready after %v (last /readyz: %s)", timeout, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Stop sends SIGINT and waits for the process; it reports an exit status
// other than 0 and a process that does not stop within 30 s (then killed).
func (s *Server) Stop() error {
	if s.stopped {
		return nil
	}
	s.stopped = true
	defer s.logFile.Close()
	select {
	case <-s.exited:
		return fmt.Errorf("shiming had already exited: %v", s.waitErr)
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		return fmt.Errorf("interrupt shiming: %w", err)
	}
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return errors.New("shiming did not stop within 30 s of SIGINT; killed")
	}
	if s.waitErr != nil {
		return fmt.Errorf("shiming exited after SIGINT: %w", s.waitErr)
	}
	return nil
}

// Remove deletes the server's folder (output and data).
func (s *Server) Remove() { os.RemoveAll(s.Dir) }

// Output returns what the server printed so far.
func (s *Server) Output() string {
	b, _ := os.ReadFile(s.LogPath)
	return string(b)
}
