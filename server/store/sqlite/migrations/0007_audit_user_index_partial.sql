-- Assent schema, version 7: the audit log is indexed by user only for the
-- events the server reads by user (store.UserAuditTypes: a user's
-- sign-ins, failures and reports, and sign-outs everywhere). Every push
-- wrote two events (push.sent and its outcome) into two indexes by user,
-- each entry landing on a page of its own at thousands of users: two of
-- the three pages a settled push wrote at its commit, and copied again at
-- the checkpoint. No query reads a user's events without naming types, so
-- the index by (user, seq) goes, and the index by (user, type, seq) keeps
-- those types only. A query names this condition as it is written here
-- (store.UserAuditCondition), so that SQLite can prove the index holds
-- every row it wants.
DROP INDEX audit_user;
DROP INDEX audit_user_type;
CREATE INDEX audit_user_type ON audit (user_id, type, seq)
	WHERE type IN ('password.reset', 'push.denied', 'push.failed', 'push.reported', 'session.revoked_all', 'signin.password_failed', 'signin.success', 'totp.refused', 'totp.replayed');
