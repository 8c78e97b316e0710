-- Assent schema for PostgreSQL, version 4: the audit log is a hash chain
-- (store.AuditHash), as SQLite's version 4. Each event keeps the hash of
-- the event before it and its own; the store computes both in the
-- transaction that appends the event, under the audit advisory lock
-- (taken in a statement before the one that reads the tail, so that at
-- READ COMMITTED the read sees every event committed before the lock was
-- granted): the nodes sharing the database make one chain in seq order.
--
-- Events stored before this version carry no hash: the chain begins at
-- the first event appended after it, and audit_chain keeps that seq so
-- that a verifier knows which events must carry one.
ALTER TABLE audit ADD COLUMN prev_hash text NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN hash      text NOT NULL DEFAULT '';

-- Every new event carries its hash: a writer that does not chain (an old
-- node, a hand-made INSERT) is refused rather than breaking the chain.
-- NOT VALID: the events from before the chain keep their empty hash.
ALTER TABLE audit ADD CONSTRAINT audit_hashed
	CHECK (length(hash) = 64 AND length(prev_hash) IN (0, 64)) NOT VALID;

CREATE TABLE audit_chain (
	id        integer NOT NULL PRIMARY KEY CHECK (id = 1),
	start_seq bigint  NOT NULL
);

INSERT INTO audit_chain (id, start_seq) SELECT 1, coalesce(max(seq), 0) + 1 FROM audit;

CREATE TRIGGER audit_chain_no_change BEFORE UPDATE OR DELETE ON audit_chain
	FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON audit_chain
	FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
