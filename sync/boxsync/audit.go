package boxsync

import (
	"context"
	"errors"
	"time"

	"venuebox/sync/mqttconn"
	"venuebox/sync/wire"
)

// AuditLog is the box's hash-chained audit log, which sync uploads to HQ
// for HQ to verify (sync/PROTOCOL.md, "Audit").
type AuditLog interface {
	// AuditAfter returns up to limit entries after seq, oldest first.
	AuditAfter(seq uint64, limit int) ([]wire.AuditEntry, error)
	// AuditDigest recomputes the chain from the entries' contents up to
	// seq (their stored hashes not trusted) and returns how far it
	// reached and the recomputed hash there.
	AuditDigest(seq uint64) (reached uint64, hash string, err error)
}

// auditBatchSize is how many audit entries go up in one batch; one batch is
// in flight at a time.
const auditBatchSize = 200

// auditLoop uploads the audit chain: it asks HQ for its mark after each
// connect, attests the chain up to that mark once per run (re-reading the
// file, so an entry altered while the box was stopped shows), then sends
// what follows in batches, one at a time, each after HQ acknowledged the
// one before.
func (s *Sync) auditLoop(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var (
		mark     *wire.AuditMark // HQ's, nil until HQ says
		attested bool            // this run's attestation was acknowledged
		attest   *wire.AuditAttest
		attestAt time.Time // when a batch with attest was last sent
		sentAt   time.Time // of the batch in flight; zero when none
	)
	send := func() {
		if !s.conn.Connected() {
			return
		}
		now := s.cfg.Now()
		if !sentAt.IsZero() && now.Sub(sentAt) < s.cfg.ResendAfter {
			return
		}
		b := wire.AuditBatch{Box: s.cfg.Box, Sent: now}
		if mark != nil {
			if !attested && mark.Seq > 0 {
				if attest == nil || attest.Seq != mark.Seq {
					reached, hash, err := s.cfg.Audit.AuditDigest(mark.Seq)
					if err != nil {
						s.log.Error("audit chain not readable for attestation", "err", err)
						return
					}
					attest = &wire.AuditAttest{Seq: mark.Seq, Reached: reached, Hash: hash}
				}
				b.Attest = attest
			}
			es, err := s.cfg.Audit.AuditAfter(mark.Seq, auditBatchSize)
			if err != nil {
				s.log.Error("audit log not readable", "err", err)
				return
			}
			if len(es) == 0 && b.Attest == nil {
				return // HQ holds everything
			}
			b.Entries = es
		}
		if err := s.publishAudit(ctx, &b); err != nil {
			s.log.Debug("audit batch not sent", "err", err)
			return
		}
		sentAt = now
		if b.Attest != nil {
			attestAt = now
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.auditUp:
			mark, sentAt = nil, time.Time{} // ask HQ again
		case a := <-s.auditAcks:
			if !attestAt.IsZero() && a.Echo.Equal(attestAt) {
				attested = true // HQ compared the chain with its own
			}
			mark, sentAt = a.Audit, time.Time{}
		case <-tick.C:
		}
		send()
	}
}

// publishAudit sends a batch, halving it while it is too large.
func (s *Sync) publishAudit(ctx context.Context, b *wire.AuditBatch) error {
	raw, err := wire.Encode(b)
	for errors.Is(err, wire.ErrTooLarge) && len(b.Entries) > 1 {
		b.Entries = b.Entries[:len(b.Entries)/2]
		raw, err = wire.Encode(b)
	}
	if err != nil {
		return err
	}
	return s.conn.Publish(ctx, mqttconn.Message{Topic: s.topic(wire.KindAudit), Payload: raw, QoS: 1})
}
