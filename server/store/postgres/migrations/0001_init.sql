-- Assent schema for PostgreSQL, version 1. The same tables, columns and
-- indexes as the SQLite schema, in PostgreSQL's own types.
--
-- Times are timestamptz, written at millisecond precision in UTC. A time
-- that is not set (the zero time.Time) is NULL, except in created_at and
-- expires_at: those are NOT NULL and hold -infinity for the zero time, so
-- that a row without them sorts first and counts as expired long ago, as
-- 0 does in SQLite (the store compares and sorts on those two only).
-- Lists and maps are jsonb; byte strings are bytea, empty for none.
--
-- Tables are created in the first schema of the connection's search_path.

CREATE TABLE users (
	id              text        NOT NULL PRIMARY KEY,
	-- "C": logins are unique and sorted byte by byte, as in SQLite, not by
	-- the database's locale.
	login           text        COLLATE "C" NOT NULL UNIQUE,
	email           text        NOT NULL,
	groups_json     jsonb       NOT NULL,
	profile_json    jsonb       NOT NULL,
	status          text        NOT NULL,
	password_hash   text        NOT NULL,
	risk            text        NOT NULL,
	risk_since      timestamptz,
	failed_attempts integer     NOT NULL,
	locked_until    timestamptz,
	created_at      timestamptz NOT NULL
);

CREATE TABLE enroll_tokens (
	hash       text        NOT NULL PRIMARY KEY,
	user_id    text        NOT NULL REFERENCES users (id),
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL,
	used_at    timestamptz,
	device_id  text        NOT NULL
);

CREATE INDEX enroll_tokens_expires ON enroll_tokens (expires_at);

-- seq orders devices (and challenges) created in the same millisecond in
-- the order they were created, as SQLite's rowid does.
CREATE TABLE devices (
	id             text        NOT NULL PRIMARY KEY,
	seq            bigint      GENERATED ALWAYS AS IDENTITY,
	user_id        text        NOT NULL REFERENCES users (id),
	public_key     bytea       NOT NULL,
	name           text        NOT NULL,
	platform       text        NOT NULL,
	os             text        NOT NULL,
	model          text        NOT NULL,
	key_store      text        NOT NULL,
	totp_secret    bytea       NOT NULL,
	totp_algorithm text        NOT NULL,
	totp_digits    integer     NOT NULL,
	totp_period    integer     NOT NULL,
	totp_last_step bigint      NOT NULL,
	created_at     timestamptz NOT NULL,
	last_seen      timestamptz,
	revoked_at     timestamptz
);

CREATE INDEX devices_user ON devices (user_id, created_at, seq);

CREATE TABLE challenges (
	id           text        NOT NULL PRIMARY KEY,
	seq          bigint      GENERATED ALWAYS AS IDENTITY,
	tx_id        text        NOT NULL,
	device_id    text        NOT NULL REFERENCES devices (id),
	user_id      text        NOT NULL REFERENCES users (id),
	kind         text        NOT NULL,
	nonce        text        NOT NULL,
	numbers_json jsonb       NOT NULL,
	correct      integer     NOT NULL,
	context      bytea       NOT NULL,
	jws          text        NOT NULL,
	status       text        NOT NULL,
	reason       text        NOT NULL,
	uv           boolean     NOT NULL,
	created_at   timestamptz NOT NULL,
	expires_at   timestamptz NOT NULL,
	answered_at  timestamptz
);

-- A device polls for its pending challenges; a sign-in page watches its
-- transaction's; the admin UI lists a user's recent ones; GarbageCollect
-- looks for pending ones past expiry.
CREATE INDEX challenges_device_status ON challenges (device_id, status);
CREATE INDEX challenges_tx ON challenges (tx_id);
CREATE INDEX challenges_user_created ON challenges (user_id, created_at, seq);
CREATE INDEX challenges_pending_expires ON challenges (expires_at) WHERE status = 'pending';

CREATE TABLE transactions (
	id         text        NOT NULL PRIMARY KEY,
	app        text        NOT NULL,
	kind       text        NOT NULL,
	user_id    text        NOT NULL, -- empty until the user is known, so no foreign key
	status     text        NOT NULL,
	data       bytea       NOT NULL,
	client_ip  text        NOT NULL,
	user_agent text        NOT NULL,
	created_at timestamptz NOT NULL,
	updated_at timestamptz,
	expires_at timestamptz NOT NULL
);

CREATE INDEX transactions_expires ON transactions (expires_at);

CREATE TABLE sessions (
	id         text        NOT NULL PRIMARY KEY,
	user_id    text        NOT NULL REFERENCES users (id),
	tx_id      text        NOT NULL, -- transactions are collected before sessions end
	client_ip  text        NOT NULL,
	user_agent text        NOT NULL,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL,
	revoked_at timestamptz
);

CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- GENERATED ALWAYS: an INSERT cannot choose its seq (short of OVERRIDING
-- SYSTEM VALUE, which the primary key then refuses for a taken one), and a
-- sequence never hands a number out twice.
CREATE TABLE audit (
	seq          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	time         timestamptz,
	type         text        NOT NULL,
	user_id      text        NOT NULL, -- events name users that may not exist
	device_id    text        NOT NULL,
	tx_id        text        NOT NULL,
	challenge_id text        NOT NULL,
	client_ip    text        NOT NULL,
	detail_json  jsonb       NOT NULL
);

CREATE INDEX audit_user ON audit (user_id, seq);

CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit log is append-only: % refused', TG_OP
		USING ERRCODE = 'insufficient_privilege';
END
$$;

-- Statement triggers: a statement is refused even when it matches no row.
CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
	FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
	FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

CREATE TABLE nonces (
	key        text        NOT NULL PRIMARY KEY,
	expires_at timestamptz NOT NULL
);

CREATE INDEX nonces_expires ON nonces (expires_at);

CREATE TABLE secrets (
	name  text  NOT NULL PRIMARY KEY,
	value bytea NOT NULL
);
