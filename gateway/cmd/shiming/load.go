package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/shiming-id/shiming/gateway/config"
	"github.com/shiming-id/shiming/gateway/pii"
	"github.com/shiming-id/shiming/gateway/store/postgres"
	"github.com/shiming-id/shiming/gateway/store/sqlite"
	"github.com/shiming-id/shiming/gateway/store/sqlstore"
)

// commonFlags are shared by serve and the operator commands that open the
// database. Each falls back to an environment variable.
type commonFlags struct {
	config, data, listen, opsListen string
}

func (c *commonFlags) register(fs *flag.FlagSet, withListen bool) {
	fs.StringVar(&c.config, "config", os.Getenv("SHIMING_CONFIG"), "YAML configuration `file` (default: the embedded default) [SHIMING_CONFIG]")
	fs.StringVar(&c.data, "data", os.Getenv("SHIMING_DATA"), "data `dir` for SQLite, keys and sockets (default ./shiming-data) [SHIMING_DATA]")
	if withListen {
		fs.StringVar(&c.listen, "listen", "", "public `addr` (default 127.0.0.1:8080) [SHIMING_LISTEN]")
		fs.StringVar(&c.opsListen, "ops-listen", "", "ops `addr` for /metrics, /healthz, /readyz (default 127.0.0.1:9464) [SHIMING_OPS_LISTEN]")
	}
}

// load builds the configuration: defaults, then the file, then SHIMING_*
// variables, then flags; and validates it. Every problem is reported.
func (c *commonFlags) load() (config.Config, error) {
	cfg := config.Default()
	if c.config != "" {
		var err error
		if cfg, err = config.LoadFile(c.config); err != nil {
			return config.Config{}, usagef("%v", err)
		}
	}
	if err := config.ApplyEnv(&cfg, os.LookupEnv); err != nil {
		return config.Config{}, usagef("%v", err)
	}
	if c.data != "" {
		cfg.DataDir = c.data
	}
	if c.listen != "" {
		cfg.Listen = c.listen
	}
	if c.opsListen != "" {
		cfg.OpsListen = c.opsListen
	}
	if err := cfg.Validate(); err != nil {
		return config.Config{}, usagef("%v", err)
	}
	return cfg, nil
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			var b strings.Builder
			fs.SetOutput(&b)
			fs.PrintDefaults()
			return usagef("usage of %s:\n%s", fs.Name(), b.String())
		}
		return usagef("%s: %v", fs.Name(), err)
	}
	return nil
}

func newLogger(cfg config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// loadKeys reads or creates the master key and returns the keyring.
func loadKeys(cfg config.Config) (*pii.Keyring, error) {
	path := cfg.Keys.MasterKeyFile
	if path == "" {
		path = filepath.Join(cfg.DataDir, "keys", "master.key")
	}
	key, err := pii.LoadOrCreateKey(path)
	if err != nil {
		return nil, err
	}
	return pii.New(key)
}

// openStore opens the configured database and applies migrations.
func openStore(ctx context.Context, cfg config.Config) (*sqlstore.Store, error) {
	switch cfg.Storage.Driver {
	case "postgres":
		st, err := postgres.Open(ctx, cfg.Storage.DSN, postgres.Options{})
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		return st, nil
	default:
		path := cfg.Storage.DSN
		if path == "" {
			path = filepath.Join(cfg.DataDir, "shiming.db")
		}
		st, err := sqlite.Open(ctx, path, sqlite.Options{})
		if err != nil {
			return nil, fmt.Errorf("open sqlite %s: %w", path, err)
		}
		return st, nil
	}
}
