package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strconv"
)

// migrationFS holds one folder of numbered migrations per flavor:
// migrations/<flavor>/NNNN_name.sql, applied in order, each once. Every
// migration exists for both flavors under the same name (a test checks
// it); a new one takes the next free number and never edits an old one.
//
//go:embed migrations
var migrationFS embed.FS

var (
	// ErrSchemaTooNew is returned by New when the database was migrated
	// by a newer binary: running an older one against it could lose data.
	ErrSchemaTooNew = errors.New("sqlstore: database schema is newer than this binary knows; run the newer binary or restore a matching backup")
	// ErrSchemaMismatch is reported by Ping when the database's schema is
	// not the version this binary knows.
	ErrSchemaMismatch = errors.New("sqlstore: database schema version differs from this binary's")
)

type migration struct {
	version int
	name    string
	sql     string
}

var migrationName = regexp.MustCompile(`^(\d{4})_[a-z0-9_]+\.sql$`)

// loadMigrations reads a flavor's migrations from fsys in version order.
func loadMigrations(fsys fs.FS, flavor string) ([]migration, error) {
	dir := path.Join("migrations", flavor)
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: no migrations for flavor %q: %w", flavor, err)
	}
	var migs []migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if e.IsDir() || m == nil {
			return nil, fmt.Errorf("sqlstore: %s/%s: migration files are named NNNN_name.sql", dir, e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		if n := len(migs); n > 0 && migs[n-1].version == v {
			return nil, fmt.Errorf("sqlstore: %s: two migrations numbered %d", dir, v)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("sqlstore: read migration: %w", err)
		}
		migs = append(migs, migration{version: v, name: e.Name(), sql: string(b)})
	}
	if len(migs) == 0 {
		return nil, fmt.Errorf("sqlstore: no migrations in %s", dir)
	}
	return migs, nil
}

const createSchemaMigrations = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version INTEGER PRIMARY KEY,
	name TEXT NOT NULL,
	applied_at TEXT NOT NULL
)`

// migrate applies every migration the database lacks, each in its own
// transaction together with its schema_migrations row, so a failed
// migration leaves no trace and a restart resumes where it stopped.
func (s *Store) migrate(ctx context.Context, migs []migration) error {
	var current int
	err := s.lockedTx(ctx, func(q querier) error {
		if _, err := q.ExecContext(ctx, createSchemaMigrations); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		v, err := schemaVersion(ctx, q)
		current = v
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	if current > s.latest {
		return fmt.Errorf("%w (database at version %d, binary at %d)", ErrSchemaTooNew, current, s.latest)
	}
	for _, m := range migs {
		if m.version <= current {
			continue
		}
		err := s.lockedTx(ctx, func(q querier) error {
			// Another replica may have applied it while we waited.
			var n int
			if err := q.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`), m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := q.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			_, err := q.ExecContext(ctx, s.q(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`),
				m.version, m.name, s.now().UTC().Format("2006-01-02T15:04:05.000000Z07:00"))
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlstore: migrate: apply %s: %w", m.name, err)
		}
	}
	return nil
}

// lockedTx is tx with the flavor's migration lock taken first.
func (s *Store) lockedTx(ctx context.Context, fn func(q querier) error) error {
	return s.tx(ctx, func(q querier) error {
		if s.flavor.MigrationLock != "" {
			if _, err := q.ExecContext(ctx, s.flavor.MigrationLock); err != nil {
				return fmt.Errorf("take migration lock: %w", err)
			}
		}
		return fn(q)
	})
}

// schemaVersion returns the newest applied migration, 0 for none.
func schemaVersion(ctx context.Context, q querier) (int, error) {
	var v sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return int(v.Int64), nil
}
