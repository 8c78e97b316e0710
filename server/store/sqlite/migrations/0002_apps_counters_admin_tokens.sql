-- Assent schema, version 2: what a session proves, registered apps, shared
-- counters (throttles, lockouts, push budgets), and admin API tokens in a
-- table of their own.

-- Sessions made before version 2 carry no app, methods, auth time or risk.
ALTER TABLE sessions ADD COLUMN app       TEXT    NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN amr_json  TEXT    NOT NULL DEFAULT '[]';
ALTER TABLE sessions ADD COLUMN auth_time INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN risk      TEXT    NOT NULL DEFAULT '';

CREATE TABLE apps (
	id         TEXT    NOT NULL PRIMARY KEY,
	name       TEXT    NOT NULL UNIQUE,
	type       TEXT    NOT NULL,
	builtin    INTEGER NOT NULL,
	config     BLOB    NOT NULL, -- JSON the store does not look inside; empty for none
	created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE counters (
	key          TEXT    NOT NULL PRIMARY KEY,
	count        INTEGER NOT NULL,
	window_start INTEGER NOT NULL,
	until        INTEGER NOT NULL,
	last         INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL
) STRICT;

CREATE INDEX counters_expires ON counters (expires_at);

-- Expired and revoked tokens stay, so that the admin can list them.
CREATE TABLE admin_tokens (
	id         TEXT    NOT NULL PRIMARY KEY,
	hash       TEXT    NOT NULL UNIQUE,
	name       TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	revoked_at INTEGER NOT NULL
) STRICT;

CREATE INDEX admin_tokens_created ON admin_tokens (created_at, id);

-- Until version 2, admin tokens were secrets named 'admin-token:<hash>'
-- holding {"name": ..., "created": RFC 3339}. They move here and keep
-- working for 30 days from this migration. A value that is not JSON, or a
-- created time SQLite cannot read, still moves (no name; created now).
INSERT INTO admin_tokens (id, hash, name, created_at, expires_at, revoked_at)
SELECT 'tok_' || substr(hash, 1, 16), hash,
	coalesce(json_extract(meta, '$.name'), ''),
	coalesce(unixepoch(json_extract(meta, '$.created')) * 1000, now),
	now + 30 * 86400000,
	0
FROM (
	SELECT substr(name, length('admin-token:') + 1) AS hash,
		CASE WHEN json_valid(CAST(value AS TEXT)) THEN CAST(value AS TEXT) ELSE '{}' END AS meta,
		CAST(unixepoch('subsec') * 1000 AS INTEGER) AS now
	FROM secrets
	WHERE name GLOB 'admin-token:*'
);

DELETE FROM secrets WHERE name GLOB 'admin-token:*';
