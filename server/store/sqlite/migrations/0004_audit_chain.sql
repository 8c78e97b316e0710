-- Assent schema, version 4: the audit log is a hash chain (store.AuditHash).
-- Each event keeps the hash of the event before it and its own; the store
-- computes both in the transaction that appends the event, after reading
-- the tail of the log (the one write connection and BEGIN IMMEDIATE keep
-- that read and the insert together).
--
-- Events stored before this version carry no hash: the chain begins at
-- the first event appended after it, and audit_chain keeps that seq so
-- that a verifier knows which events must carry one.
ALTER TABLE audit ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN hash      TEXT NOT NULL DEFAULT '';

CREATE TABLE audit_chain (
	id        INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	start_seq INTEGER NOT NULL
) STRICT;

INSERT INTO audit_chain (id, start_seq)
SELECT 1, max(coalesce((SELECT max(seq) FROM audit), 0),
              coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'audit'), 0)) + 1;

CREATE TRIGGER audit_chain_no_update BEFORE UPDATE ON audit_chain
BEGIN
	SELECT RAISE(ABORT, 'audit log is append-only: UPDATE of its chain start refused');
END;

CREATE TRIGGER audit_chain_no_delete BEFORE DELETE ON audit_chain
BEGIN
	SELECT RAISE(ABORT, 'audit log is append-only: DELETE of its chain start refused');
END;

-- Every new event carries its hash: a writer that does not chain (an old
-- binary, a hand-made INSERT) is refused rather than breaking the chain.
CREATE TRIGGER audit_hashed BEFORE INSERT ON audit
WHEN length(NEW.hash) <> 64 OR length(NEW.prev_hash) NOT IN (0, 64)
BEGIN
	SELECT RAISE(ABORT, 'audit log is a hash chain: an event without its hash refused');
END;
