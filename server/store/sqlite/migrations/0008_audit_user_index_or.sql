-- Assent schema, version 8: the condition of the index by user (migration
-- 7) written as comparisons joined by OR instead of an IN list. SQLite
-- evaluates a partial index's condition at every insert into the audit
-- log, and an IN list of more than two constants is built into a
-- temporary b-tree each time the statement runs: a third of what an
-- audit insert cost. The index holds the same rows; a query names this
-- condition as it is written here (sqlite.userAuditCondition).
DROP INDEX audit_user_type;
CREATE INDEX audit_user_type ON audit (user_id, type, seq)
	WHERE type = 'password.reset' OR type = 'push.denied' OR type = 'push.failed' OR type = 'push.reported' OR type = 'session.revoked_all' OR type = 'signin.password_failed' OR type = 'signin.success' OR type = 'totp.refused' OR type = 'totp.replayed';
