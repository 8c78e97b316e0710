-- Assent schema for PostgreSQL, version 2: what a session proves,
-- registered apps, shared counters (throttles, lockouts, push budgets), and
-- admin API tokens in a table of their own. The same as SQLite's version 2.

-- Sessions made before version 2 carry no app, methods, auth time or risk.
ALTER TABLE sessions
	ADD COLUMN app       text  NOT NULL DEFAULT '',
	ADD COLUMN amr_json  jsonb NOT NULL DEFAULT '[]',
	ADD COLUMN auth_time timestamptz,
	ADD COLUMN risk      text  NOT NULL DEFAULT '';

CREATE TABLE apps (
	id         text        NOT NULL PRIMARY KEY,
	-- "C": listed by name byte by byte, as in SQLite.
	name       text        COLLATE "C" NOT NULL UNIQUE,
	type       text        NOT NULL,
	builtin    boolean     NOT NULL,
	config     bytea       NOT NULL, -- JSON the store does not look inside; empty for none
	created_at timestamptz NOT NULL
);

-- An UpdateCounter of a key that has no row inserts one with count 0,
-- NULL times and expires_at -infinity (a zero store.Counter), then locks it.
CREATE TABLE counters (
	key          text        NOT NULL PRIMARY KEY,
	count        bigint      NOT NULL,
	window_start timestamptz,
	until        timestamptz,
	last         timestamptz,
	expires_at   timestamptz NOT NULL
);

CREATE INDEX counters_expires ON counters (expires_at);

-- Expired and revoked tokens stay, so that the admin can list them.
CREATE TABLE admin_tokens (
	id         text        COLLATE "C" NOT NULL PRIMARY KEY,
	hash       text        NOT NULL UNIQUE,
	name       text        NOT NULL,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL,
	revoked_at timestamptz
);

CREATE INDEX admin_tokens_created ON admin_tokens (created_at, id);

-- Until version 2, admin tokens were secrets named 'admin-token:<hash>'
-- holding {"name": ..., "created": RFC 3339}. They move here and keep
-- working for 30 days from this migration. A value that is not JSON, or a
-- created time that does not parse, still moves (no name; created now).
DO $$
DECLARE
	r        record;
	meta     jsonb;
	created  timestamptz;
	migrated timestamptz := date_trunc('milliseconds', now());
BEGIN
	FOR r IN SELECT name, value FROM secrets WHERE starts_with(name, 'admin-token:') ORDER BY name LOOP
		BEGIN
			meta := convert_from(r.value, 'UTF8')::jsonb;
		EXCEPTION WHEN others THEN
			meta := '{}';
		END;
		IF jsonb_typeof(meta) IS DISTINCT FROM 'object' THEN
			meta := '{}';
		END IF;
		BEGIN
			created := date_trunc('milliseconds', (meta->>'created')::timestamptz);
		EXCEPTION WHEN others THEN
			created := NULL;
		END;
		INSERT INTO admin_tokens (id, hash, name, created_at, expires_at, revoked_at)
		VALUES ('tok_' || left(substr(r.name, 13), 16), substr(r.name, 13),
			coalesce(meta->>'name', ''), coalesce(created, migrated), migrated + interval '30 days', NULL);
	END LOOP;
	DELETE FROM secrets WHERE starts_with(name, 'admin-token:');
END
$$;
