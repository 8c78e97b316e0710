-- Assent schema, version 7: the audit log is indexed by user only for the
-- events the server reads by user (store.UserAuditTypes); see the SQLite
-- migration of the same number. A query names this condition as it is
-- written here (store.UserAuditCondition), so that a generic plan can use
-- the index.
DROP INDEX audit_user;
DROP INDEX audit_user_type;
CREATE INDEX audit_user_type ON audit (user_id, type, seq)
	WHERE type IN ('password.reset', 'push.denied', 'push.failed', 'push.reported', 'session.revoked_all', 'signin.password_failed', 'signin.success', 'totp.refused', 'totp.replayed');
