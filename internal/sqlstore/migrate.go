package sqlstore

import (
	"context"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// Migrations is one embedded set of goose migrations with its own version table, so that shared
// tables (the messaging outbox and inbox) and a service's own tables migrate independently in the
// same database.
type Migrations struct {
	// Table is goose's version table for this set.
	Table string
	// FS holds the .sql files at its root, or in a sqlite/ or postgres/ folder when the
	// dialects need different DDL.
	FS fs.FS
}

// Migrate brings db up to date with every set, in order.
func Migrate(ctx context.Context, db *DB, sets ...Migrations) error {
	for _, set := range sets {
		fsys := set.FS
		if sub, err := fs.Sub(set.FS, db.Dialect.migrations); err == nil {
			if entries, err := fs.ReadDir(sub, "."); err == nil && len(entries) > 0 {
				fsys = sub
			}
		}
		opts := []goose.ProviderOption{goose.WithTableName(set.Table), goose.WithDisableGlobalRegistry(true)}
		if db.Dialect.migrationLock {
			// Replicas of a service start together and would otherwise race to migrate.
			locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(lockID(db.Schema + "/migrate/" + set.Table)))
			if err != nil {
				return err
			}
			opts = append(opts, goose.WithSessionLocker(locker))
		}
		p, err := goose.NewProvider(db.Dialect.goose, db.DB, fsys, opts...)
		if err != nil {
			return fmt.Errorf("migrations %s: %w", set.Table, err)
		}
		if _, err := p.Up(ctx); err != nil {
			return fmt.Errorf("migrate %s: %w", set.Table, err)
		}
	}
	return nil
}

// EmbeddedMigrations is the set in dir of fsys (usually an embed.FS holding "migrations").
func EmbeddedMigrations(table string, fsys fs.FS, dir string) Migrations {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(fmt.Sprintf("migrations %s: %v", table, err)) // only a build-time mistake gets here
	}
	return Migrations{Table: table, FS: sub}
}
