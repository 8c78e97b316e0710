-- Assent schema, version 5: the audit log is read by user and type (the
-- risk of a sign-in); see the SQLite migration of the same number.
CREATE INDEX audit_user_type ON audit (user_id, type, seq);
