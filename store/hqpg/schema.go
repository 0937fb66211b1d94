package hqpg

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// A migration moves the schema from version-1 to version. Migrations are
// never edited once released: a change is a new one at the end.
type migration struct {
	version int
	about   string
	sql     string
}

// migrations is the schema's history. Text that is compared or sorted is
// COLLATE "C" so that order is byte order, as in the bbolt store, whatever
// the database's locale.
var migrations = []migration{
	{1, "check-ins, first-time admissions, the fleet", `
CREATE TABLE checkins (
	nonce      text COLLATE "C" PRIMARY KEY,
	box        text COLLATE "C" NOT NULL,
	boot       bigint NOT NULL,
	seq        bigint NOT NULL CHECK (seq > 0),
	org        text NOT NULL,
	venue      text NOT NULL,
	gate       text NOT NULL,
	event      text COLLATE "C" NOT NULL,
	ticket     text COLLATE "C" NOT NULL,
	verdict    text NOT NULL,
	reason     text NOT NULL,
	at         timestamptz NOT NULL,
	temp_c     double precision,
	input      text NOT NULL,
	staff      text NOT NULL,
	note       text NOT NULL,
	historical boolean NOT NULL,
	received   timestamptz NOT NULL,
	UNIQUE (box, boot, seq)
);
CREATE INDEX checkins_event_at ON checkins (event, at, nonce);
CREATE INDEX checkins_first ON checkins (event, ticket) WHERE verdict = 'admitted' AND reason = 'ok';

-- n counts the first-time admissions of a ticket: more than one is a conflict.
CREATE TABLE admits (
	event  text COLLATE "C" NOT NULL,
	ticket text COLLATE "C" NOT NULL,
	n      integer NOT NULL,
	PRIMARY KEY (event, ticket)
);
CREATE INDEX admits_conflicts ON admits (event, ticket) WHERE n > 1;

-- rec is the box's record (hqstore.Box as JSON): state, high-water marks,
-- gaps, audit-chain position. Its row lock serialises the ingest of one box.
CREATE TABLE boxes (
	box   text COLLATE "C" PRIMARY KEY,
	org   text NOT NULL DEFAULT '',
	venue text NOT NULL DEFAULT '',
	rec   jsonb NOT NULL
);
CREATE INDEX boxes_venue ON boxes (org, venue);
`},
	{2, "signed manifests shared by the replicas", `
-- The newest signed snapshot of each event, which every replica loads;
-- published is the newest version the publishing replica has pushed.
CREATE TABLE manifests (
	event      text COLLATE "C" PRIMARY KEY,
	version    bigint NOT NULL,
	raw        bytea NOT NULL,
	published  bigint NOT NULL DEFAULT 0,
	updated_at timestamptz NOT NULL DEFAULT now()
);
`},
	{3, "the boxes' audit chains as HQ verified them", `
-- rec is hqstore.AuditState as JSON; its row lock serialises one box's
-- verification.
CREATE TABLE audit_state (
	box text COLLATE "C" PRIMARY KEY,
	rec jsonb NOT NULL
);
-- Each entry HQ holds, by box, epoch and sequence (hqstore.AuditEntry).
CREATE TABLE audit_entries (
	box   text COLLATE "C" NOT NULL,
	epoch integer NOT NULL,
	seq   bigint NOT NULL,
	rec   jsonb NOT NULL,
	PRIMARY KEY (box, epoch, seq)
);
`},
	{4, "admissions staff undid", `
-- The nonce of each admission staff undid (the person did not pass): it no
-- longer counts in admits, whichever of the two HQ receives first.
CREATE TABLE undone (
	nonce text COLLATE "C" PRIMARY KEY
);
`},
}

// Schema is the version this code writes and reads.
var Schema = migrations[len(migrations)-1].version

// ErrSchema is returned by Open for a database whose schema is newer than
// this code knows.
var ErrSchema = errors.New("hqpg: the database's schema is newer than this build")

// migrateLock is the advisory lock key that serialises migrations, so
// that replicas starting together apply each one once.
const migrateLock = 0x76656e7565626f78 // "venuebox"

// migrate applies the migrations the database lacks, in one transaction,
// and returns the schema version it had before.
func migrate(ctx context.Context, db interface {
	Begin(context.Context) (pgx.Tx, error)
}) (int, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx) // after Commit a no-op
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrateLock)); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version integer PRIMARY KEY, about text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return 0, err
	}
	var had int
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&had); err != nil {
		return 0, err
	}
	if had > Schema {
		return had, fmt.Errorf("%w: version %d, this build knows %d", ErrSchema, had, Schema)
	}
	for _, m := range migrations {
		if m.version <= had {
			continue
		}
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return had, fmt.Errorf("migration %d (%s): %w", m.version, m.about, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, about) VALUES ($1, $2)`, m.version, m.about); err != nil {
			return had, err
		}
	}
	return had, tx.Commit(ctx)
}
