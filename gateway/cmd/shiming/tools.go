package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/shiming-id/shiming/gateway/audit"
	"github.com/shiming-id/shiming/gateway/config"
	"github.com/shiming-id/shiming/gateway/password"
)

// runConfig implements `shiming config check FILE`: validation only,
// nothing is started or written.
func runConfig(args []string, stdout, _ io.Writer) error {
	if len(args) != 2 || args[0] != "check" {
		return usagef("usage: shiming config check FILE")
	}
	cfg, err := config.LoadFile(args[1])
	if err != nil {
		return usagef("%v", err)
	}
	if err := config.ApplyEnv(&cfg, os.LookupEnv); err != nil {
		return usagef("%v", err)
	}
	if err := cfg.Validate(); err != nil {
		return usagef("%s: %v", args[1], err)
	}
	fmt.Fprintf(stdout, "%s: ok\n", args[1])
	return nil
}

// runAudit implements `shiming audit verify`.
func runAudit(ctx context.Context, args []string, stdout, _ io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		return usagef("usage: shiming audit verify [--config FILE] [--data DIR]")
	}
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	var c commonFlags
	c.register(fs, false)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	rep, err := audit.Verify(ctx, st, func(n int) { fmt.Fprintf(stdout, "verified %d records…\n", n) })
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "audit chain intact: %d records, head %s\n", rep.Records, hex.EncodeToString(rep.Head))
	return nil
}

// runOperator implements `shiming operator hash`: the password is read
// from standard input (one line) so it stays out of shell history.
func runOperator(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) != 1 || args[0] != "hash" {
		return usagef("usage: echo -n PASSWORD | shiming operator hash")
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		return fmt.Errorf("read password: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if len(pw) < 12 {
		return usagef("an operator password needs at least 12 characters")
	}
	h, err := password.Hash(pw, password.DefaultParams)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, h)
	return nil
}

// runPluginHash implements `shiming plugin-hash FILE`.
func runPluginHash(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return usagef("usage: shiming plugin-hash FILE")
	}
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("hash %s: %w", args[0], err)
	}
	fmt.Fprintf(stdout, "%s  %s\n", hex.EncodeToString(h.Sum(nil)), args[0])
	return nil
}

// runMigrate opens the database, which applies any pending migrations.
func runMigrate(ctx context.Context, args []string, stdout, _ io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	var c commonFlags
	c.register(fs, false)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Ping(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "database migrated to schema version %d\n", st.SchemaVersion())
	return nil
}

// runHealthcheck implements `shiming healthcheck`: a health probe for
// containers that have no shell or curl.
func runHealthcheck(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	u := fs.String("url", "http://127.0.0.1:9464/healthz", "`URL` that must answer 200")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *u, nil)
	if err != nil {
		return usagef("healthcheck: %v", err)
	}
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", *u, resp.Status)
	}
	return nil
}
