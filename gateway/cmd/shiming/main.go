// Command shiming is the Shiming identity gateway: the public web front
// door with its candidate journeys and the exam registration app, the
// host of the identity-provider plugins, and the operator tools.
//
// Usage:
//
//	shiming [serve] [--config FILE] [--data DIR] [--listen ADDR] [--ops-listen ADDR]
//	shiming plugin NAME            serve a built-in provider over go-plugin (run by the gateway)
//	shiming sandbox [--listen ADDR] [--data DIR]
//	shiming config check FILE
//	shiming audit verify [--config FILE] [--data DIR]
//	shiming catalog import [--config FILE] [--data DIR] FILE.csv
//	shiming operator hash          read a password on stdin, print its argon2id hash
//	shiming plugin-hash FILE       print the SHA-256 to declare for an external plugin
//	shiming migrate [--config FILE] [--data DIR]
//	shiming healthcheck [--url URL]  exit 0 when URL answers 200 (container health checks)
//	shiming version
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// exitUsage is the exit status for bad flags and invalid configuration.
const exitUsage = 2

// usageError is an error the user fixes by changing the command line or
// the configuration; it exits with status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	// The plugin subcommand must not install signal handlers or print
	// anything before go-plugin's handshake.
	if len(args) > 0 && args[0] == "plugin" {
		return runPlugin(args[1:], stderr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cmd, rest := "serve", args
	if len(args) > 0 && (len(args[0]) == 0 || args[0][0] != '-') {
		cmd, rest = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = runServe(ctx, rest, stdout, stderr)
	case "sandbox":
		err = runSandbox(ctx, rest, stdout, stderr)
	case "config":
		err = runConfig(rest, stdout, stderr)
	case "audit":
		err = runAudit(ctx, rest, stdout, stderr)
	case "catalog":
		err = runCatalog(ctx, rest, stdout, stderr)
	case "operator":
		err = runOperator(rest, os.Stdin, stdout)
	case "plugin-hash":
		err = runPluginHash(rest, stdout)
	case "migrate":
		err = runMigrate(ctx, rest, stdout, stderr)
	case "healthcheck":
		err = runHealthcheck(ctx, rest)
	case "version":
		fmt.Fprintln(stdout, "shiming", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		err = usagef("unknown command %q\n\n%s", cmd, usage)
	}
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "shiming:", err)
	var u *usageError
	if errors.As(err, &u) {
		return exitUsage
	}
	return 1
}

const usage = `Usage:
  shiming [serve] [--config FILE] [--data DIR] [--listen ADDR] [--ops-listen ADDR]
  shiming sandbox [--listen ADDR] [--data DIR] [--public-url URL]
  shiming config check FILE
  shiming audit verify [--config FILE] [--data DIR]
  shiming catalog import [--config FILE] [--data DIR] FILE.csv
  shiming operator hash            (reads the password on standard input)
  shiming plugin-hash FILE
  shiming migrate [--config FILE] [--data DIR]
  shiming version

Without --config, serve runs the embedded default: SQLite under --data,
the vendor sandbox in-process, the built-in providers and a sample exam.
Every flag can also be set as SHIMING_CONFIG, SHIMING_DATA, SHIMING_LISTEN
or SHIMING_OPS_LISTEN; every config field as SHIMING_<PATH> (see README).
`
