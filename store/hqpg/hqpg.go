// Package hqpg is HQ's attendance store on PostgreSQL, for several HQ
// replicas sharing one database. It behaves as store/hqstore (bbolt) does,
// which one suite (store/hqstore/hqstoretest) proves against both: each
// check-in stored exactly once, by a primary key on its nonce and a unique
// key on (box, boot, seq), whichever replica receives it and however often;
// per-box high-water marks and gaps; first-time admissions counted per
// ticket, two of them a conflict; attendance per event; the fleet. The
// schema is versioned (schema_migrations) and migrated at Open, under an
// advisory lock so that replicas starting together apply each step once.
//
// Concurrency: an ingest locks the rows of the boxes it touches (in name
// order, so two ingests cannot deadlock on them) before it inserts, so the
// high-water marks of one box advance one transaction at a time while
// different boxes ingest in parallel. A ticket's admission count is an
// upsert, so two replicas admitting one ticket at once both see the
// conflict. A transaction that still deadlocks or fails to serialise is
// retried.
//
// Times are kept to the microsecond (PostgreSQL's timestamptz); boot and
// sequence numbers must fit in a bigint.
package hqpg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"venuebox/store/hqstore"
)

// Options tune the store; the zero value is usable.
type Options struct {
	// MaxConns caps the pool (default 8).
	MaxConns int32
	// Timeout bounds one operation of the methods that take no context
	// (default 30 s).
	Timeout time.Duration
}

// Store is HQ's attendance store on PostgreSQL. It is safe for concurrent
// use, by goroutines and by processes sharing the database.
type Store struct {
	pool    *pgxpool.Pool
	log     *slog.Logger
	timeout time.Duration
	dsn     string
}

// Open connects to the database named by dsn (a PostgreSQL connection
// string or URL) and applies the migrations it lacks.
func Open(ctx context.Context, dsn string, opts *Options, log *slog.Logger) (*Store, error) {
	if opts == nil {
		opts = &Options{}
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("hqpg: dsn: %w", err)
	}
	cfg.MaxConns = 8
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("hqpg: open: %w", err)
	}
	had, err := migrate(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("hqpg: open %s: %w", cfg.ConnConfig.Host, err)
	}
	if had < Schema {
		log.Info("hq store migrated", "from", had, "to", Schema)
	}
	s := &Store{pool: pool, log: log, timeout: 30 * time.Second, dsn: dsn}
	if opts.Timeout > 0 {
		s.timeout = opts.Timeout
	}
	return s, nil
}

// Close closes the pool's connections.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// String names the store and its server, without credentials.
func (s *Store) String() string {
	c := s.pool.Config().ConnConfig
	return fmt.Sprintf("hqpg{%s:%d/%s}", c.Host, c.Port, c.Database)
}

func (s *Store) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.timeout)
}

// maxGaps caps the gaps kept and reported per box, as hqstore does.
const maxGaps = 32

// retryable reports whether a transaction may succeed when run again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001") // deadlock, serialization failure
}

// inTx runs f in a transaction, again (up to 5 times) when PostgreSQL
// aborts it for a deadlock or a serialisation failure.
func (s *Store) inTx(ctx context.Context, f func(pgx.Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := pgx.BeginFunc(ctx, s.pool, f)
		if err == nil || !retryable(err) || attempt == 4 {
			return err
		}
		s.log.Debug("hq store transaction retried", "attempt", attempt+1, "err", err)
		time.Sleep(time.Duration(1+attempt) * 5 * time.Millisecond)
	}
}

// Ingest stores check-ins in one transaction: each new one once, each one
// HQ already holds (same nonce, or same box, boot and sequence) counted as
// a duplicate. It advances each box's high-water marks and returns its
// gaps. Check-ins with an empty nonce or box, or sequence 0, are refused
// before anything is written.
func (s *Store) Ingest(cs []hqstore.CheckIn) (hqstore.Result, error) {
	for i := range cs {
		c := &cs[i]
		if c.Nonce == "" || c.Box == "" || c.Seq == 0 {
			return hqstore.Result{}, fmt.Errorf("hqpg: ingest: check-in %d lacks nonce, box or seq", i)
		}
		if c.Boot > math.MaxInt64 || c.Seq > math.MaxInt64 {
			return hqstore.Result{}, fmt.Errorf("hqpg: ingest: check-in %d: boot or seq out of range", i)
		}
	}
	ctx, cancel := s.ctx()
	defer cancel()
	var res hqstore.Result
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		res, err = ingest(ctx, tx, cs)
		return err
	})
	if err != nil {
		return hqstore.Result{}, fmt.Errorf("hqpg: ingest: %w", err)
	}
	return res, nil
}

func ingest(ctx context.Context, tx pgx.Tx, cs []hqstore.CheckIn) (hqstore.Result, error) {
	res := hqstore.Result{Gaps: map[string][]hqstore.Gap{}}
	if len(cs) == 0 {
		return res, nil
	}
	names := make([]string, 0, 4)
	for i := range cs {
		names = append(names, cs[i].Box)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	boxes, err := lockBoxes(ctx, tx, names)
	if err != nil {
		return res, err
	}

	n := len(cs)
	var (
		nonce, box, org, venue, gate, event, ticket, verdict, reason, input, staff, note = make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		boot, seq      = make([]int64, n), make([]int64, n)
		at, received   = make([]time.Time, n), make([]time.Time, n)
		temp           = make([]*float64, n)
		historical     = make([]bool, n)
		byNonce        = make(map[string]int, n)
		stored         = make([]bool, n)
		first          = map[hqstore.ConflictKey]int32{}
		firstE, firstT []string
		firstN         []int32
	)
	for i := range cs {
		c := &cs[i]
		nonce[i], box[i], org[i], venue[i], gate[i] = c.Nonce, c.Box, c.Org, c.Venue, c.Gate
		event[i], ticket[i], verdict[i], reason[i] = c.Event, c.Ticket, c.Verdict, c.Reason
		input[i], staff[i], note[i] = c.Input, c.Staff, c.Note
		boot[i], seq[i], at[i], received[i] = int64(c.Boot), int64(c.Seq), c.At, c.Received
		temp[i], historical[i] = c.TempC, c.Historical
		if _, ok := byNonce[c.Nonce]; !ok {
			byNonce[c.Nonce] = i
		}
	}
	// ON CONFLICT DO NOTHING without a target skips a row that collides
	// with any unique key (nonce, or box+boot+seq), also one inserted
	// earlier by the same statement.
	rows, err := tx.Query(ctx, `
INSERT INTO checkins (nonce, box, org, venue, gate, event, ticket, verdict, reason, input, staff, note,
	boot, seq, at, received, temp_c, historical)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
	$8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
	$13::bigint[], $14::bigint[], $15::timestamptz[], $16::timestamptz[], $17::float8[], $18::boolean[])
ON CONFLICT DO NOTHING
RETURNING nonce`, nonce, box, org, venue, gate, event, ticket, verdict, reason, input, staff, note,
		boot, seq, at, received, temp, historical)
	if err != nil {
		return res, err
	}
	ins, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return res, err
	}
	for _, nn := range ins {
		i, ok := byNonce[nn]
		if !ok {
			return res, fmt.Errorf("insert returned unknown nonce %q", nn)
		}
		stored[i] = true
	}
	undone, err := undo(ctx, tx, cs, stored)
	if err != nil {
		return res, err
	}
	for i := range cs {
		c := &cs[i]
		if !stored[i] {
			res.Duplicates++
			continue
		}
		res.Stored++
		if c.Event != "" && c.FirstEntry() && !undone[c.Nonce] {
			first[hqstore.ConflictKey{Event: c.Event, Ticket: c.Ticket}]++
		}
		b := boxes[c.Box]
		if c.Org != "" {
			b.Org, b.Venue = c.Org, c.Venue
		}
		if b.Max == nil {
			b.Max, b.Contig = map[uint64]uint64{}, map[uint64]uint64{}
		}
		if c.Received.After(b.LastSeen) {
			b.LastSeen = c.Received
		}
		if c.Seq > b.Max[c.Boot] {
			b.Max[c.Boot] = c.Seq
		}
	}
	if len(first) > 0 {
		keys := make([]hqstore.ConflictKey, 0, len(first))
		for k := range first {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b hqstore.ConflictKey) int {
			if a.Event != b.Event {
				return cmpString(a.Event, b.Event)
			}
			return cmpString(a.Ticket, b.Ticket)
		})
		for _, k := range keys {
			firstE, firstT, firstN = append(firstE, k.Event), append(firstT, k.Ticket), append(firstN, first[k])
		}
		rows, err := tx.Query(ctx, `
INSERT INTO admits AS a (event, ticket, n)
SELECT e, t, n FROM unnest($1::text[], $2::text[], $3::integer[]) AS u(e, t, n) ORDER BY e COLLATE "C", t COLLATE "C"
ON CONFLICT (event, ticket) DO UPDATE SET n = a.n + EXCLUDED.n
RETURNING event, ticket, n`, firstE, firstT, firstN)
		if err != nil {
			return res, err
		}
		var e, t string
		var cnt int32
		_, err = pgx.ForEachRow(rows, []any{&e, &t, &cnt}, func() error {
			if cnt > 1 {
				res.Conflicts = append(res.Conflicts, hqstore.ConflictKey{Event: e, Ticket: t})
			}
			return nil
		})
		if err != nil {
			return res, err
		}
	}
	touched := make([]*hqstore.Box, 0, len(names))
	for _, name := range names {
		if b := boxes[name]; b.Max != nil && hasStored(cs, stored, name) {
			touched = append(touched, b)
		}
	}
	if err := advance(ctx, tx, touched); err != nil {
		return res, err
	}
	if err := putBoxes(ctx, tx, touched); err != nil {
		return res, err
	}
	for _, b := range touched {
		res.Gaps[b.Box] = b.Gaps
	}
	return res, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func hasStored(cs []hqstore.CheckIn, stored []bool, box string) bool {
	for i := range cs {
		if stored[i] && cs[i].Box == box {
			return true
		}
	}
	return false
}

// lockBoxes creates the records of boxes new to HQ and locks every named
// box's row for the rest of the transaction, in name order.
func lockBoxes(ctx context.Context, tx pgx.Tx, names []string) (map[string]*hqstore.Box, error) {
	if _, err := tx.Exec(ctx, `
INSERT INTO boxes (box, rec) SELECT b, '{}' FROM unnest($1::text[]) AS b ORDER BY b COLLATE "C"
ON CONFLICT DO NOTHING`, names); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, `SELECT box, rec FROM boxes WHERE box = ANY($1) ORDER BY box FOR UPDATE`, names)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*hqstore.Box, len(names))
	var name string
	var rec []byte
	_, err = pgx.ForEachRow(rows, []any{&name, &rec}, func() error {
		b := &hqstore.Box{}
		if err := json.Unmarshal(rec, b); err != nil {
			return fmt.Errorf("box %s: %w", name, err)
		}
		b.Box = name
		out[name] = b
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) != len(names) {
		return nil, fmt.Errorf("locked %d of %d boxes", len(out), len(names))
	}
	return out, nil
}

func putBoxes(ctx context.Context, tx pgx.Tx, bs []*hqstore.Box) error {
	if len(bs) == 0 {
		return nil
	}
	names, orgs, venues, recs := make([]string, len(bs)), make([]string, len(bs)), make([]string, len(bs)), make([]string, len(bs))
	for i, b := range bs {
		rec, err := json.Marshal(b)
		if err != nil {
			return err
		}
		names[i], orgs[i], venues[i], recs[i] = b.Box, b.Org, b.Venue, string(rec)
	}
	_, err := tx.Exec(ctx, `
UPDATE boxes AS b SET org = u.org, venue = u.venue, rec = u.rec
FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[]) AS u(box, org, venue, rec)
WHERE b.box = u.box`, names, orgs, venues, recs)
	return err
}

// advance moves each boot's contiguous mark over the sequence numbers now
// held and recomputes the boxes' gaps, as hqstore does: a boot whose first
// check-in HQ sees does not start at 1 starts where the previous boot
// ended, when it continues that numbering. A boot already complete (its
// mark at its highest number) is not looked at again. One query answers
// every boot of every box: per boot, the held numbers above the mark that
// end a run (the next number is missing), and the lowest held.
func advance(ctx context.Context, tx pgx.Tx, bs []*hqstore.Box) error {
	type key struct {
		box  string
		boot uint64
	}
	var qBox []string
	var qBoot, qContig, qAlt []int64
	order := map[string][]uint64{} // box → boots, ascending
	for _, b := range bs {
		boots := make([]uint64, 0, len(b.Max))
		for boot := range b.Max {
			boots = append(boots, boot)
		}
		slices.Sort(boots)
		order[b.Box] = boots
		for i, boot := range boots {
			contig, ok := b.Contig[boot]
			if ok && contig >= b.Max[boot] {
				continue
			}
			alt := uint64(0)
			if !ok && i > 0 {
				alt = b.Max[boots[i-1]]
			}
			qBox, qBoot, qContig, qAlt = append(qBox, b.Box), append(qBoot, int64(boot)), append(qContig, int64(contig)), append(qAlt, int64(alt))
		}
	}
	type run struct {
		seq, first int64
		next       *int64
	}
	starts := map[key]int64{}
	runs := map[key][]run{}
	if len(qBox) > 0 {
		rows, err := tx.Query(ctx, `
WITH q AS (
	SELECT u.box, u.boot,
		CASE WHEN u.alt > 0 AND EXISTS (SELECT 1 FROM checkins c WHERE c.box = u.box AND c.boot = u.boot AND c.seq = u.alt + 1)
			THEN u.alt ELSE u.contig END AS start
	FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]) AS u(box, boot, contig, alt)
)
SELECT q.box, q.boot, q.start, h.seq, h.nxt, h.first
FROM q LEFT JOIN LATERAL (
	SELECT w.seq, w.nxt, w.first FROM (
		SELECT c.seq, lead(c.seq) OVER (ORDER BY c.seq) AS nxt, min(c.seq) OVER () AS first
		FROM checkins c WHERE c.box = q.box AND c.boot = q.boot AND c.seq > q.start
	) w WHERE w.nxt IS NULL OR w.nxt > w.seq + 1 ORDER BY w.seq LIMIT $5
) h ON true`, qBox, qBoot, qContig, qAlt, maxGaps+1)
		if err != nil {
			return err
		}
		var box string
		var boot, start int64
		var seq, first, next *int64
		_, err = pgx.ForEachRow(rows, []any{&box, &boot, &start, &seq, &next, &first}, func() error {
			k := key{box, uint64(boot)}
			starts[k] = start
			if seq != nil {
				runs[k] = append(runs[k], run{seq: *seq, first: *first, next: next})
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	for _, b := range bs {
		b.Gaps = b.Gaps[:0]
		for _, boot := range order[b.Box] {
			k := key{b.Box, boot}
			start, asked := starts[k]
			if !asked {
				continue // complete: no gaps
			}
			contig := uint64(start)
			rs := runs[k]
			if len(rs) > 0 {
				if uint64(rs[0].first) == contig+1 {
					contig = uint64(rs[0].seq)
				} else if len(b.Gaps) < maxGaps {
					b.Gaps = append(b.Gaps, hqstore.Gap{Boot: boot, From: contig + 1, To: uint64(rs[0].first) - 1})
				}
			}
			b.Contig[boot] = contig
			for _, r := range rs {
				if r.next != nil && len(b.Gaps) < maxGaps {
					b.Gaps = append(b.Gaps, hqstore.Gap{Boot: boot, From: uint64(r.seq) + 1, To: uint64(*r.next) - 1})
				}
			}
		}
	}
	return nil
}

// UpdateBox changes one box's record in a transaction; f sees the current
// record (a zero one for a new box) and edits it. The row is locked, so
// replicas updating one box take turns.
func (s *Store) UpdateBox(name string, f func(*hqstore.Box)) error {
	ctx, cancel := s.ctx()
	defer cancel()
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		bs, err := lockBoxes(ctx, tx, []string{name})
		if err != nil {
			return err
		}
		b := bs[name]
		f(b)
		b.Box = name
		return putBoxes(ctx, tx, []*hqstore.Box{b})
	})
	if err != nil {
		return fmt.Errorf("hqpg: update box %s: %w", name, err)
	}
	return nil
}

// Boxes returns every box's record, sorted by name.
func (s *Store) Boxes() ([]hqstore.Box, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT box, rec FROM boxes ORDER BY box`)
	if err != nil {
		return nil, fmt.Errorf("hqpg: boxes: %w", err)
	}
	var out []hqstore.Box
	var name string
	var rec []byte
	_, err = pgx.ForEachRow(rows, []any{&name, &rec}, func() error {
		var b hqstore.Box
		if err := json.Unmarshal(rec, &b); err != nil {
			return fmt.Errorf("box %s: %w", name, err)
		}
		b.Box = name
		out = append(out, b)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hqpg: boxes: %w", err)
	}
	return out, nil
}

const checkinColumns = `nonce, box, org, venue, gate, event, ticket, verdict, reason, input, staff, note,
	boot, seq, at, received, temp_c, historical`

// scanCheckIn reads one row of checkinColumns.
func scanCheckIn(row pgx.CollectableRow) (hqstore.CheckIn, error) {
	var c hqstore.CheckIn
	var boot, seq int64
	err := row.Scan(&c.Nonce, &c.Box, &c.Org, &c.Venue, &c.Gate, &c.Event, &c.Ticket, &c.Verdict, &c.Reason,
		&c.Input, &c.Staff, &c.Note, &boot, &seq, &c.At, &c.Received, &c.TempC, &c.Historical)
	c.Boot, c.Seq = uint64(boot), uint64(seq)
	c.At, c.Received = c.At.UTC(), c.Received.UTC()
	return c, err
}

// Attendance returns an event's check-ins in time order.
func (s *Store) Attendance(event string) ([]hqstore.CheckIn, error) {
	if event == "" {
		return nil, nil // as hqstore: check-ins without an event belong to none
	}
	ctx, cancel := s.ctx()
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+checkinColumns+` FROM checkins WHERE event = $1 ORDER BY at, nonce`, event)
	if err != nil {
		return nil, fmt.Errorf("hqpg: attendance %s: %w", event, err)
	}
	out, err := pgx.CollectRows(rows, scanCheckIn)
	if err != nil {
		return nil, fmt.Errorf("hqpg: attendance %s: %w", event, err)
	}
	return out, nil
}

// undo records the admissions the newly stored undo check-ins name, takes
// those already counted off their tickets' counts, and returns which of the
// batch's own first-time admissions are undone, so they are not counted.
func undo(ctx context.Context, tx pgx.Tx, cs []hqstore.CheckIn, stored []bool) (map[string]bool, error) {
	names, firsts := []string{}, []string{} // not nil: pgx sends a nil slice as NULL
	for i := range cs {
		if !stored[i] {
			continue
		}
		if n := cs[i].Undoes(); n != "" {
			names = append(names, n)
		}
		if cs[i].FirstEntry() {
			firsts = append(firsts, cs[i].Nonce)
		}
	}
	if len(names) > 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO undone (nonce) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING`, names); err != nil {
			return nil, err
		}
		// Admissions stored before this batch were counted: count them off.
		if _, err := tx.Exec(ctx, `
UPDATE admits a SET n = a.n - 1 FROM checkins c
WHERE c.nonce = ANY($1) AND NOT c.nonce = ANY($2) AND c.verdict = 'admitted' AND c.reason = 'ok'
	AND a.event = c.event AND a.ticket = c.ticket`, names, firsts); err != nil {
			return nil, err
		}
	}
	undone := map[string]bool{}
	if len(firsts) == 0 {
		return undone, nil
	}
	rows, err := tx.Query(ctx, `SELECT nonce FROM undone WHERE nonce = ANY($1)`, firsts)
	if err != nil {
		return nil, err
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	for _, n := range found {
		undone[n] = true
	}
	return undone, nil
}

// Conflicts returns an event's tickets admitted first-time more than once,
// each with its admissions in time order.
func (s *Store) Conflicts(event string) ([]hqstore.Conflict, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	rows, err := s.pool.Query(ctx, `
SELECT `+checkinColumns+` FROM checkins
WHERE event = $1 AND verdict = 'admitted' AND reason = 'ok' AND nonce NOT IN (SELECT nonce FROM undone)
	AND ticket IN (SELECT ticket FROM admits WHERE event = $1 AND n > 1)
ORDER BY ticket, at, nonce`, event)
	if err != nil {
		return nil, fmt.Errorf("hqpg: conflicts %s: %w", event, err)
	}
	cs, err := pgx.CollectRows(rows, scanCheckIn)
	if err != nil {
		return nil, fmt.Errorf("hqpg: conflicts %s: %w", event, err)
	}
	var out []hqstore.Conflict
	for _, c := range cs {
		if len(out) == 0 || out[len(out)-1].Ticket != c.Ticket {
			out = append(out, hqstore.Conflict{Event: event, Ticket: c.Ticket})
		}
		last := &out[len(out)-1]
		last.Admissions = append(last.Admissions, c)
	}
	return out, nil
}

// Count returns how many check-ins HQ holds.
func (s *Store) Count() (int, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM checkins`).Scan(&n); err != nil {
		return 0, fmt.Errorf("hqpg: count: %w", err)
	}
	return n, nil
}

// Get returns the check-in with the given nonce, and whether HQ holds it.
func (s *Store) Get(nonce string) (hqstore.CheckIn, bool, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+checkinColumns+` FROM checkins WHERE nonce = $1`, nonce)
	if err != nil {
		return hqstore.CheckIn{}, false, fmt.Errorf("hqpg: get: %w", err)
	}
	c, err := pgx.CollectExactlyOneRow(rows, scanCheckIn)
	if errors.Is(err, pgx.ErrNoRows) {
		return hqstore.CheckIn{}, false, nil
	}
	if err != nil {
		return hqstore.CheckIn{}, false, fmt.Errorf("hqpg: get: %w", err)
	}
	return c, true, nil
}

// Check verifies the store's consistency: each ticket's admission count
// is its number of first-time admissions, and each box's highest sequence
// number per boot is the highest HQ holds. It returns the first problem.
func (s *Store) Check() error {
	ctx, cancel := s.ctx()
	defer cancel()
	var bad int
	var example string
	err := s.pool.QueryRow(ctx, `
SELECT count(*), coalesce(min(coalesce(f.event, a.event) || '/' || coalesce(f.ticket, a.ticket)), '') FROM
	(SELECT event, ticket, count(*)::integer AS n FROM checkins
	 WHERE event <> '' AND verdict = 'admitted' AND reason = 'ok' AND nonce NOT IN (SELECT nonce FROM undone)
	 GROUP BY event, ticket) f
FULL JOIN admits a ON a.event = f.event AND a.ticket = f.ticket
WHERE coalesce(f.n, 0) <> coalesce(a.n, 0)`).Scan(&bad, &example)
	if err != nil {
		return fmt.Errorf("hqpg: check: %w", err)
	}
	if bad > 0 {
		return fmt.Errorf("hqpg: check: %d tickets' admission counts differ from their admissions (e.g. %s)", bad, example)
	}
	boxes, err := s.Boxes()
	if err != nil {
		return fmt.Errorf("hqpg: check: %w", err)
	}
	rows, err := s.pool.Query(ctx, `SELECT box, boot, max(seq) FROM checkins GROUP BY box, boot`)
	if err != nil {
		return fmt.Errorf("hqpg: check: %w", err)
	}
	held := map[string]map[uint64]uint64{}
	var box string
	var boot, max int64
	if _, err := pgx.ForEachRow(rows, []any{&box, &boot, &max}, func() error {
		if held[box] == nil {
			held[box] = map[uint64]uint64{}
		}
		held[box][uint64(boot)] = uint64(max)
		return nil
	}); err != nil {
		return fmt.Errorf("hqpg: check: %w", err)
	}
	// Every boot HQ holds check-ins of is in its box's record with its
	// highest number (a record may say more: UpdateBox writes what it is
	// given).
	for _, b := range boxes {
		for boot, m := range held[b.Box] {
			if b.Max[boot] != m {
				return fmt.Errorf("hqpg: check: box %s boot %d: record says max %d, check-ins say %d", b.Box, boot, b.Max[boot], m)
			}
		}
		delete(held, b.Box)
	}
	for b := range held {
		return fmt.Errorf("hqpg: check: check-ins of box %s, which has no record", b)
	}
	return nil
}

// Probe reports whether a check-in could be ingested now: it takes a
// connection, begins a transaction, reads the schema version and rolls
// back, all within ctx.
func (s *Store) Probe(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var v int
		return tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v)
	})
	if err != nil {
		return fmt.Errorf("hqpg: probe: %w", err)
	}
	return nil
}

// SchemaVersion returns the schema version the database holds.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("hqpg: schema version: %w", err)
	}
	return v, nil
}
