// Package pgtest gives tests an isolated PostgreSQL schema: the server
// comes from SHIMING_TEST_POSTGRES_DSN (see .ci/postgres.sh).
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// EnvDSN names the environment variable that holds the test server's DSN,
// for example postgres://postgres@127.0.0.1:55432/postgres?sslmode=disable.
const EnvDSN = "SHIMING_TEST_POSTGRES_DSN"

// ServerDSN returns the test server's DSN. When EnvDSN is unset it skips
// the test, or fails it when CI=true: CI must run every test.
func ServerDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn != "" {
		return dsn
	}
	const how = "start one with `. .ci/postgres.sh` (it exports " + EnvDSN + ")"
	if os.Getenv("CI") == "true" {
		t.Fatalf("pgtest: %s is not set and CI=true: PostgreSQL tests must run in CI; %s", EnvDSN, how)
	}
	t.Skipf("pgtest: %s is not set, skipping PostgreSQL tests; %s", EnvDSN, how)
	return ""
}

// DSN creates a fresh, empty schema on the test server and returns a DSN
// whose search_path is that schema, so tests can run in parallel without
// seeing each other's tables. The schema is dropped when the test ends.
// It skips or fails like ServerDSN when no server is configured.
func DSN(t testing.TB) string {
	t.Helper()
	server := ServerDSN(t)
	cfg, err := pgx.ParseConfig(server)
	if err != nil {
		t.Fatalf("pgtest: %s does not parse", EnvDSN)
	}
	admin := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { _ = admin.Close() })

	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("pgtest: create schema: %v", err)
	}
	t.Cleanup(func() { dropSchema(t, admin, schema) })
	return withSearchPath(t, server, schema)
}

func dropSchema(t testing.TB, admin *sql.DB, schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
		t.Errorf("pgtest: drop schema %s: %v", schema, err)
	}
}

// withSearchPath adds search_path=schema to a URL or key=value DSN.
func withSearchPath(t testing.TB, dsn, schema string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("pgtest: %s does not parse as a URL", EnvDSN)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema
}
