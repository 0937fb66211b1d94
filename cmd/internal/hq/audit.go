package hq

import (
	"time"

	"venuebox/store/hqstore"
)

// AuditStatus is a box's audit chain as /api/boxes and the dashboard show
// it: OK is false from the first break HQ found until an operator clears
// it (the breaks stay listed).
type AuditStatus struct {
	OK          bool                 `json:"ok"`
	Seq         uint64               `json:"seq"`
	Entries     int                  `json:"entries"`
	CheckedAt   *time.Time           `json:"checked_at,omitempty"`
	AttestedAt  *time.Time           `json:"attested_at,omitempty"`
	AttestedSeq uint64               `json:"attested_seq,omitempty"`
	BreakCount  int                  `json:"break_count"`
	Breaks      []hqstore.AuditBreak `json:"breaks,omitempty"`
	ClearedBy   string               `json:"cleared_by,omitempty"`
	ClearedAt   *time.Time           `json:"cleared_at,omitempty"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func auditStatus(states map[string]hqstore.AuditState, box string) *AuditStatus {
	st, ok := states[box]
	if !ok {
		return nil
	}
	return &AuditStatus{OK: !st.Broken, Seq: st.Seq, Entries: st.Entries, CheckedAt: optTime(st.CheckedAt),
		AttestedAt: optTime(st.AttestedAt), AttestedSeq: st.AttestedSeq, BreakCount: st.BreakCount, Breaks: st.Breaks,
		ClearedBy: st.ClearedBy, ClearedAt: optTime(st.ClearedAt)}
}
