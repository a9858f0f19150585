// Package audit writes and verifies the append-only audit log: logins,
// phone changes, exports and operator actions, each record hash-chained
// to the one before it so that a changed or removed record is detected.
// Records carry masked identifiers only.
package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/shiming-id/shiming/gateway/store"
)

// Kinds of records.
const (
	KindLogin       = "login"
	KindLogout      = "logout"
	KindRegister    = "register"
	KindPhoneChange = "phone_change"
	KindExport      = "export"
	KindOperator    = "operator"
	KindImport      = "catalog_import"
)

// Log appends audit records.
type Log struct {
	store  store.Audit
	now    func() time.Time
	logger *slog.Logger
}

// New returns an audit log over a store.
func New(s store.Audit, now func() time.Time, logger *slog.Logger) *Log {
	return &Log{store: s, now: now, logger: logger}
}

// Record appends a record. subject and detail must already be masked:
// they are kept forever and shown to auditors.
func (l *Log) Record(ctx context.Context, kind, actor, subject string, detail map[string]string) error {
	d, err := json.Marshal(detail) // map keys are sorted: the encoding is stable
	if err != nil {
		return fmt.Errorf("audit: encode detail: %w", err)
	}
	rec, err := l.store.AppendAudit(ctx, store.AuditRecord{
		Time: l.now().UTC(), Kind: kind, Actor: actor, Subject: subject, Detail: d,
	})
	if err != nil {
		return fmt.Errorf("audit: append %s: %w", kind, err)
	}
	l.logger.Info("audit", "seq", rec.Seq, "kind", kind, "actor", actor)
	return nil
}

// BrokenError says where the chain breaks.
type BrokenError struct {
	Seq    int64
	Reason string
}

func (e *BrokenError) Error() string {
	return fmt.Sprintf("audit: chain broken at record %d: %s", e.Seq, e.Reason)
}

// Report summarises a verified chain.
type Report struct {
	Records int
	LastSeq int64
	// Head is the hash of the last record; keep it outside the database
	// to detect a removal of the newest records later.
	Head []byte
}

// Verify walks the whole chain and recomputes every hash. It returns a
// *BrokenError at the first record that was changed, removed or
// reordered. progress, if not nil, is called every 10,000 records.
func Verify(ctx context.Context, s store.Audit, progress func(n int)) (Report, error) {
	var rep Report
	var prev []byte
	const page = 1000
	for {
		recs, err := s.ListAudit(ctx, rep.LastSeq, page)
		if err != nil {
			return rep, fmt.Errorf("audit: list: %w", err)
		}
		for _, r := range recs {
			switch {
			case r.Seq != rep.LastSeq+1:
				return rep, &BrokenError{Seq: rep.LastSeq + 1, Reason: fmt.Sprintf("missing (next record present is %d)", r.Seq)}
			case !bytes.Equal(r.PrevHash, prev):
				return rep, &BrokenError{Seq: r.Seq, Reason: "does not link to the record before it"}
			case !bytes.Equal(r.Hash, store.AuditHash(prev, r)):
				return rep, &BrokenError{Seq: r.Seq, Reason: "content changed after it was written"}
			}
			prev = r.Hash
			rep.LastSeq = r.Seq
			rep.Records++
			if progress != nil && rep.Records%10000 == 0 {
				progress(rep.Records)
			}
		}
		if len(recs) < page {
			rep.Head = prev
			headSeq, headHash, err := s.AuditHead(ctx)
			if err != nil {
				return rep, fmt.Errorf("audit: head: %w", err)
			}
			if headSeq != rep.LastSeq || !bytes.Equal(headHash, prev) {
				return rep, &BrokenError{Seq: rep.LastSeq + 1, Reason: fmt.Sprintf("the chain ends at %d but %d records were written", rep.LastSeq, headSeq)}
			}
			return rep, nil
		}
	}
}

// IsBroken reports whether err says the chain is broken.
func IsBroken(err error) bool {
	var b *BrokenError
	return errors.As(err, &b)
}
