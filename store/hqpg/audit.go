package hqpg

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"venuebox/store/hqstore"
)

// UpdateAudit changes one box's audit state in a transaction: f sees the
// current state (a zero one for a box not seen before), edits it and
// returns the entries to keep, which are stored with it (an entry HQ holds
// already is replaced). An error from f stores nothing. It returns the
// state as stored. The state's row is locked, so replicas verifying one
// box's chain take turns.
func (s *Store) UpdateAudit(box string, f func(*hqstore.AuditState) ([]hqstore.AuditEntry, error)) (hqstore.AuditState, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var st hqstore.AuditState
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO audit_state (box, rec) VALUES ($1, '{}') ON CONFLICT DO NOTHING`, box); err != nil {
			return err
		}
		var rec []byte
		if err := tx.QueryRow(ctx, `SELECT rec FROM audit_state WHERE box = $1 FOR UPDATE`, box).Scan(&rec); err != nil {
			return err
		}
		st = hqstore.AuditState{}
		if err := json.Unmarshal(rec, &st); err != nil {
			return fmt.Errorf("state: %w", err)
		}
		st.Box = box
		keep, err := f(&st)
		if err != nil {
			return err
		}
		if len(keep) > 0 {
			epochs, seqs, recs := make([]int32, len(keep)), make([]int64, len(keep)), make([]string, len(keep))
			for i, e := range keep {
				if e.Seq > math.MaxInt64 || e.Epoch > math.MaxInt32 {
					return fmt.Errorf("entry %d/%d out of range", e.Epoch, e.Seq)
				}
				v, err := json.Marshal(e)
				if err != nil {
					return err
				}
				epochs[i], seqs[i], recs[i] = int32(e.Epoch), int64(e.Seq), string(v)
			}
			// The last of several entries with one key wins, as in bbolt.
			if _, err := tx.Exec(ctx, `
INSERT INTO audit_entries AS a (box, epoch, seq, rec)
SELECT DISTINCT ON (u.epoch, u.seq) $1, u.epoch, u.seq, u.rec
FROM unnest($2::integer[], $3::bigint[], $4::jsonb[]) WITH ORDINALITY AS u(epoch, seq, rec, i)
ORDER BY u.epoch, u.seq, u.i DESC
ON CONFLICT (box, epoch, seq) DO UPDATE SET rec = EXCLUDED.rec`, box, epochs, seqs, recs); err != nil {
				return err
			}
		}
		v, err := json.Marshal(&st)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE audit_state SET rec = $2 WHERE box = $1`, box, v)
		return err
	})
	if err != nil {
		return hqstore.AuditState{}, fmt.Errorf("hqpg: update audit %s: %w", box, err)
	}
	return st, nil
}

// AuditStates returns every box's audit state, by box.
func (s *Store) AuditStates() (map[string]hqstore.AuditState, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT box, rec FROM audit_state`)
	if err != nil {
		return nil, fmt.Errorf("hqpg: audit states: %w", err)
	}
	out := map[string]hqstore.AuditState{}
	var box string
	var rec []byte
	_, err = pgx.ForEachRow(rows, []any{&box, &rec}, func() error {
		var st hqstore.AuditState
		if err := json.Unmarshal(rec, &st); err != nil {
			return fmt.Errorf("box %s: %w", box, err)
		}
		out[box] = st
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hqpg: audit states: %w", err)
	}
	return out, nil
}

// AuditEntries returns up to limit entries of a box's chain in an epoch
// after seq, oldest first.
func (s *Store) AuditEntries(box string, epoch uint32, after uint64, limit int) ([]hqstore.AuditEntry, error) {
	if limit <= 0 || after >= math.MaxInt64 {
		return nil, nil
	}
	ctx, cancel := s.ctx()
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT rec FROM audit_entries WHERE box = $1 AND epoch = $2 AND seq > $3 ORDER BY seq LIMIT $4`,
		box, int64(epoch), int64(after), limit)
	if err != nil {
		return nil, fmt.Errorf("hqpg: audit entries %s: %w", box, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (hqstore.AuditEntry, error) {
		var rec []byte
		var e hqstore.AuditEntry
		if err := row.Scan(&rec); err != nil {
			return e, err
		}
		return e, json.Unmarshal(rec, &e)
	})
	if err != nil {
		return nil, fmt.Errorf("hqpg: audit entries %s: %w", box, err)
	}
	return out, nil
}

// ClearAuditBreak clears a box's broken flag (the breaks stay listed), as
// an operator does once the box has been looked at.
func (s *Store) ClearAuditBreak(box, by string, at time.Time) (hqstore.AuditState, error) {
	return s.UpdateAudit(box, func(st *hqstore.AuditState) ([]hqstore.AuditEntry, error) {
		st.Broken, st.ClearedBy, st.ClearedAt = false, by, at
		return nil, nil
	})
}
