package hqpg

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// MigrateTo applies the migrations up to version only, as an older build
// would have left the database.
func MigrateTo(ctx context.Context, conn *pgx.Conn, version int) error {
	saved := migrations
	defer func() { migrations = saved }()
	migrations = migrations[:version]
	_, err := migrate(ctx, conn)
	return err
}
