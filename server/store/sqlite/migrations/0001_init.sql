-- Assent schema, version 1.
--
-- Times are INTEGER unix milliseconds, 0 meaning "not set" (the zero
-- time.Time). Lists and maps are JSON text. Tables are STRICT so that a value
-- of the wrong type is refused instead of silently stored.

CREATE TABLE users (
	id              TEXT    NOT NULL PRIMARY KEY,
	login           TEXT    NOT NULL UNIQUE,
	email           TEXT    NOT NULL,
	groups_json     TEXT    NOT NULL,
	profile_json    TEXT    NOT NULL,
	status          TEXT    NOT NULL,
	password_hash   TEXT    NOT NULL,
	risk            TEXT    NOT NULL,
	risk_since      INTEGER NOT NULL,
	failed_attempts INTEGER NOT NULL,
	locked_until    INTEGER NOT NULL,
	created_at      INTEGER NOT NULL
) STRICT;

CREATE TABLE enroll_tokens (
	hash       TEXT    NOT NULL PRIMARY KEY,
	user_id    TEXT    NOT NULL REFERENCES users (id),
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	used_at    INTEGER NOT NULL,
	device_id  TEXT    NOT NULL
) STRICT;

CREATE INDEX enroll_tokens_expires ON enroll_tokens (expires_at);

CREATE TABLE devices (
	id             TEXT    NOT NULL PRIMARY KEY,
	user_id        TEXT    NOT NULL REFERENCES users (id),
	public_key     BLOB    NOT NULL,
	name           TEXT    NOT NULL,
	platform       TEXT    NOT NULL,
	os             TEXT    NOT NULL,
	model          TEXT    NOT NULL,
	key_store      TEXT    NOT NULL,
	totp_secret    BLOB    NOT NULL,
	totp_algorithm TEXT    NOT NULL,
	totp_digits    INTEGER NOT NULL,
	totp_period    INTEGER NOT NULL,
	totp_last_step INTEGER NOT NULL,
	created_at     INTEGER NOT NULL,
	last_seen      INTEGER NOT NULL,
	revoked_at     INTEGER NOT NULL
) STRICT;

CREATE INDEX devices_user ON devices (user_id, created_at);

CREATE TABLE challenges (
	id           TEXT    NOT NULL PRIMARY KEY,
	tx_id        TEXT    NOT NULL,
	device_id    TEXT    NOT NULL REFERENCES devices (id),
	user_id      TEXT    NOT NULL REFERENCES users (id),
	kind         TEXT    NOT NULL,
	nonce        TEXT    NOT NULL,
	numbers_json TEXT    NOT NULL,
	correct      INTEGER NOT NULL,
	context      BLOB    NOT NULL,
	jws          TEXT    NOT NULL,
	status       TEXT    NOT NULL,
	reason       TEXT    NOT NULL,
	uv           INTEGER NOT NULL,
	created_at   INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL,
	answered_at  INTEGER NOT NULL
) STRICT;

-- A device polls for its pending challenges; a sign-in page watches its
-- transaction's; the admin UI lists a user's recent ones; GarbageCollect
-- looks for pending ones past expiry.
CREATE INDEX challenges_device_status ON challenges (device_id, status);
CREATE INDEX challenges_tx ON challenges (tx_id);
CREATE INDEX challenges_user_created ON challenges (user_id, created_at);
CREATE INDEX challenges_pending_expires ON challenges (expires_at) WHERE status = 'pending';

CREATE TABLE transactions (
	id         TEXT    NOT NULL PRIMARY KEY,
	app        TEXT    NOT NULL,
	kind       TEXT    NOT NULL,
	user_id    TEXT    NOT NULL, -- empty until the user is known, so no foreign key
	status     TEXT    NOT NULL,
	data       BLOB    NOT NULL,
	client_ip  TEXT    NOT NULL,
	user_agent TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX transactions_expires ON transactions (expires_at);

CREATE TABLE sessions (
	id         TEXT    NOT NULL PRIMARY KEY,
	user_id    TEXT    NOT NULL REFERENCES users (id),
	tx_id      TEXT    NOT NULL, -- transactions are collected before sessions end
	client_ip  TEXT    NOT NULL,
	user_agent TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	revoked_at INTEGER NOT NULL
) STRICT;

CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- AUTOINCREMENT so that a seq is never handed out twice, even after the
-- highest row is gone (which the triggers below forbid anyway).
CREATE TABLE audit (
	seq          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	time         INTEGER NOT NULL,
	type         TEXT    NOT NULL,
	user_id      TEXT    NOT NULL, -- events name users that may not exist
	device_id    TEXT    NOT NULL,
	tx_id        TEXT    NOT NULL,
	challenge_id TEXT    NOT NULL,
	client_ip    TEXT    NOT NULL,
	detail_json  TEXT    NOT NULL
) STRICT;

CREATE INDEX audit_user ON audit (user_id, seq);

CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
	SELECT RAISE(ABORT, 'audit log is append-only: UPDATE refused');
END;

CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
	SELECT RAISE(ABORT, 'audit log is append-only: DELETE refused');
END;

-- INSERT OR REPLACE deletes the old row without firing DELETE triggers
-- (unless recursive_triggers is on), so a taken seq is refused up front. A
-- new event's NEW.seq is -1 here, before SQLite picks it.
CREATE TRIGGER audit_no_replace BEFORE INSERT ON audit
WHEN EXISTS (SELECT 1 FROM audit WHERE seq = NEW.seq)
BEGIN
	SELECT RAISE(ABORT, 'audit log is append-only: seq is taken');
END;

CREATE TABLE nonces (
	key        TEXT    NOT NULL PRIMARY KEY,
	expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX nonces_expires ON nonces (expires_at);

CREATE TABLE secrets (
	name  TEXT NOT NULL PRIMARY KEY,
	value BLOB NOT NULL
) STRICT;
