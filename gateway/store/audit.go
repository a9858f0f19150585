package store

import (
	"crypto/sha256"
	"encoding/binary"
	"time"
)

// AuditHash is the hash that links an audit record to its predecessor:
// SHA-256 over the previous hash and every field of the record in a fixed,
// length-prefixed encoding. The genesis record's prevHash is empty.
func AuditHash(prevHash []byte, r AuditRecord) []byte {
	h := sha256.New()
	field := func(b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	var seq [8]byte
	binary.BigEndian.PutUint64(seq[:], uint64(r.Seq))
	field(prevHash)
	field(seq[:])
	// Microseconds: the precision every supported database keeps.
	field([]byte(r.Time.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano)))
	field([]byte(r.Kind))
	field([]byte(r.Actor))
	field([]byte(r.Subject))
	field(r.Detail)
	return h.Sum(nil)
}
