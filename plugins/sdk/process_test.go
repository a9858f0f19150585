package sdk_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/shiming-id/shiming/plugins/sdk"
)

// TestServeProcess runs Serve in a real process, as go-plugin's host
// would start it, and checks what the host relies on: the handshake is the
// only thing on standard output, a panic is an INTERNAL answer and a
// JSON log line, and SIGTERM lets a call in flight finish before the
// process exits with status 0.
func TestServeProcess(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = []string{
		pluginEnv + "=fake",
		sdk.MagicCookieKey + "=" + sdk.MagicCookieValue,
		"PLUGIN_PROTOCOL_VERSIONS=1",
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderrR, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	// Standard error: collect every line, and announce the slow call.
	var (
		mu     sync.Mutex
		errOut []string
	)
	slowStarted := make(chan struct{})
	stderrDone := make(chan struct{})
	go func() {
		defer close(stderrDone)
		sc := bufio.NewScanner(stderrR)
		sc.Buffer(nil, 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			mu.Lock()
			errOut = append(errOut, sc.Text())
			mu.Unlock()
			if strings.Contains(sc.Text(), "slow call started") {
				once.Do(func() { close(slowStarted) })
			}
		}
	}()

	out := bufio.NewReader(stdout)
	line, err := out.ReadString('\n')
	if err != nil {
		t.Fatalf("reading handshake: %v", err)
	}
	parts := strings.Split(strings.TrimSpace(line), "|")
	if len(parts) < 5 || parts[0] != "1" || parts[1] != "1" || parts[2] != "unix" || parts[4] != "grpc" {
		t.Fatalf("handshake = %q", line)
	}
	restOfStdout := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(out); restOfStdout <- b }()

	conn, err := grpc.NewClient("unix://"+parts[3], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := sdk.NewClient(conn)
	ctx := ctxT(t)

	if ref, err := c.CheckIdentity(ctx, "stdout", "1"); err != nil || ref != "printed" {
		t.Fatalf("call that prints = %q, %v", ref, err)
	}
	if _, err := c.CheckIdentity(ctx, "panic", "1"); sdk.KindOf(err) != sdk.Internal {
		t.Fatalf("panic: %v", err)
	}
	if st, err := c.PollScan(ctx, "u1"); err != nil || st.State != sdk.ScanConfirmed {
		t.Fatalf("poll after panic = %+v, %v", st, err)
	}

	slow := make(chan error, 1)
	go func() {
		ref, err := c.CheckIdentity(ctx, "slow", "1")
		if err == nil && ref != "slow-ok" {
			err = io.ErrUnexpectedEOF
		}
		slow <- err
	}()
	select {
	case <-slowStarted:
	case <-ctx.Done():
		t.Fatal("slow call never started")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-slow; err != nil {
		t.Fatalf("call in flight at SIGTERM: %v", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("plugin exit: %v", err)
	}
	if rest := <-restOfStdout; len(rest) != 0 {
		t.Errorf("standard output after the handshake: %q", rest)
	}
	<-stderrDone
	mu.Lock()
	defer mu.Unlock()
	var sawPanic bool
	for _, l := range errOut {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) != nil {
			continue
		}
		if m["@message"] == "panic in provider call" && m["@level"] == "error" {
			sawPanic = strings.Contains(m["stack"].(string), "goroutine")
		}
	}
	if !sawPanic {
		t.Errorf("no JSON panic line with a stack on standard error:\n%s", strings.Join(errOut, "\n"))
	}
	if bytes.Contains([]byte(strings.Join(errOut, "\n")), []byte("a provider that prints")) {
		t.Error("what the provider printed reached standard error")
	}
}
