-- Assent schema, version 5: the audit log is read by user and type (the
-- risk of a sign-in: the user's recent sign-ins, failures, reports). The
-- index by user alone made each such read walk every event of the user,
-- however old, so a sign-in grew slower with the user's history (and with
-- what anyone could make the log say of them).
CREATE INDEX audit_user_type ON audit (user_id, type, seq);
