package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"time"
)

// The audit log is a hash chain, one per store in the order of Seq: each
// event's Hash is SHA-256 over its content and the Hash of the event
// before it (AuditHash). A backend computes it in the transaction that
// appends the event, holding the tail of the log locked, so that several
// nodes on one database still make one chain. Events stored before the
// chain began (a database made before schema version 4) carry no hash;
// AuditChainStart says where the chain begins.

// AuditHashVersion prefixes the bytes AuditHash hashes; a different
// encoding would get a new version.
const AuditHashVersion = "assent-audit-v1"

// AuditHash is the chain hash of e, as lowercase hex, given the Hash of the
// event before it in the chain (prev; empty for the chain's first event).
// It covers exactly what the store keeps: Seq, Time (as stored, at
// millisecond precision), Type, UserID, DeviceID, TxID, ChallengeID,
// ClientIP and Detail. The bytes hashed are, in order:
//
//	"assent-audit-v1"                 the 15 ASCII bytes, then a zero byte
//	seq                               int64, 8 bytes big-endian
//	time                              int64, 8 bytes big-endian: Unix time
//	                                  in nanoseconds (0 for no time)
//	type, user, device, tx,           each a string: uint32 big-endian byte
//	challenge, client IP              length, then the UTF-8 bytes
//	detail                            uint32 big-endian count of entries, then
//	                                  per entry in byte order of the keys: the
//	                                  key and the value, each a string as above
//	prev                              a string as above: the previous event's
//	                                  hash as 64 lowercase hex characters,
//	                                  empty for the first event of the chain
func AuditHash(e AuditEvent, prev string) string {
	b := make([]byte, 0, 256)
	b = append(b, AuditHashVersion...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Seq))
	var t int64
	if !e.Time.IsZero() {
		t = e.Time.UnixNano()
	}
	b = binary.BigEndian.AppendUint64(b, uint64(t))
	for _, s := range []string{e.Type, e.UserID, e.DeviceID, e.TxID, e.ChallengeID, e.ClientIP} {
		b = appendString(b, s)
	}
	keys := make([]string, 0, len(e.Detail))
	for k := range e.Detail {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = binary.BigEndian.AppendUint32(b, uint32(len(keys)))
	for _, k := range keys {
		b = appendString(b, k)
		b = appendString(b, e.Detail[k])
	}
	b = appendString(b, prev)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// AuditCheck is what VerifyAudit found.
type AuditCheck struct {
	// Start is the Seq where the chain begins; Before counts the events
	// stored before it (they carry no hash and are not covered).
	Start  int64
	Before int64
	// Checked counts the events of the chain that were checked and found
	// whole, Broken excluded.
	Checked int64
	// Last is the last whole event of the chain (zero when none): its
	// Hash stands for everything up to it, worth keeping elsewhere.
	Last AuditEvent
	// Broken is the first event that does not hold (nil when the chain
	// holds), and Problem says what differs.
	Broken  *AuditEvent
	Problem string
}

// verifyPage is how many events VerifyAudit reads at a time.
const verifyPage = 1000

// VerifyAudit walks the whole audit log in Seq order and checks the chain:
// every event from the start on has a hash, the hash matches its content
// and the previous event's hash, and its PrevHash names that previous
// hash. It stops at the first event that does not hold. The error is for
// a store that cannot be read; a broken chain is in the AuditCheck.
func VerifyAudit(ctx context.Context, st Store) (AuditCheck, error) {
	start, err := st.AuditChainStart(ctx)
	if err != nil {
		return AuditCheck{}, err
	}
	c := AuditCheck{Start: start}
	var (
		after   int64
		prev    AuditEvent
		started bool
	)
	for {
		es, err := st.ListAudit(ctx, AuditFilter{AfterSeq: after, Limit: verifyPage})
		if err != nil {
			return c, err
		}
		for _, e := range es {
			after = e.Seq
			if e.Seq < start {
				c.Before++
				continue
			}
			if problem := checkLink(e, prev, started); problem != "" {
				c.Broken, c.Problem = &e, problem
				return c, nil
			}
			c.Checked++
			c.Last, prev, started = e, e, true
		}
		if len(es) < verifyPage {
			return c, nil
		}
	}
}

// checkLink says what is wrong with e given the event before it in the
// chain (none when !started); empty when e holds.
func checkLink(e, prev AuditEvent, started bool) string {
	if e.Hash == "" {
		return "it has no hash, but the chain began before it"
	}
	if got := AuditHash(e, e.PrevHash); got != e.Hash {
		return fmt.Sprintf("its content does not match its hash: stored %s, computed %s from the event as it is now (changed after it was written)", e.Hash, got)
	}
	switch {
	case !started && e.PrevHash != "":
		return fmt.Sprintf("it is the first event of the chain but names a previous hash %s (the events before it were removed)", e.PrevHash)
	case started && e.PrevHash != prev.Hash:
		return fmt.Sprintf("its previous hash %s is not the hash %s of the event before it (seq %d): an event between them was removed or inserted, or that one was rewritten",
			e.PrevHash, prev.Hash, prev.Seq)
	}
	return ""
}

// FormatAuditEvent names an event for messages: seq, time and type.
func FormatAuditEvent(e AuditEvent) string {
	return fmt.Sprintf("seq %d (%s, %s)", e.Seq, e.Time.UTC().Format(time.RFC3339Nano), e.Type)
}

// AuditRecord is an event as one JSON object, what `assentd audit export`
// writes one a line and the syslog sink sends: every field the chain hash
// covers, and the hashes, so that whoever receives the lines can check the
// chain (Event gives the AuditEvent back for AuditHash). Time is RFC 3339
// in UTC with its milliseconds, empty for no time.
type AuditRecord struct {
	Seq         int64             `json:"seq"`
	Time        string            `json:"time"`
	Type        string            `json:"type"`
	UserID      string            `json:"userId"`
	DeviceID    string            `json:"deviceId"`
	TxID        string            `json:"txId"`
	ChallengeID string            `json:"challengeId"`
	ClientIP    string            `json:"clientIp"`
	Detail      map[string]string `json:"detail"`
	PrevHash    string            `json:"prevHash"`
	Hash        string            `json:"hash"`
}

// NewAuditRecord is e as a record.
func NewAuditRecord(e AuditEvent) AuditRecord {
	r := AuditRecord{
		Seq: e.Seq, Type: e.Type, UserID: e.UserID, DeviceID: e.DeviceID, TxID: e.TxID,
		ChallengeID: e.ChallengeID, ClientIP: e.ClientIP, Detail: e.Detail, PrevHash: e.PrevHash, Hash: e.Hash,
	}
	if !e.Time.IsZero() {
		r.Time = e.Time.UTC().Format(time.RFC3339Nano)
	}
	if r.Detail == nil {
		r.Detail = map[string]string{}
	}
	return r
}

// Event is the event the record was made from.
func (r AuditRecord) Event() (AuditEvent, error) {
	e := AuditEvent{
		Seq: r.Seq, Type: r.Type, UserID: r.UserID, DeviceID: r.DeviceID, TxID: r.TxID,
		ChallengeID: r.ChallengeID, ClientIP: r.ClientIP, Detail: r.Detail, PrevHash: r.PrevHash, Hash: r.Hash,
	}
	if len(e.Detail) == 0 {
		e.Detail = nil
	}
	if r.Time != "" {
		t, err := time.Parse(time.RFC3339Nano, r.Time)
		if err != nil {
			return AuditEvent{}, fmt.Errorf("audit record seq %d: time: %w", r.Seq, err)
		}
		e.Time = t.UTC()
	}
	return e, nil
}
