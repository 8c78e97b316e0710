-- Assent schema for PostgreSQL, version 3: grants, the objects of the
-- protocol fronts' flows (authorization requests, codes, access and refresh
-- tokens, device authorizations, signing keys), so that any node can finish
-- a flow another began. The same as SQLite's version 3.
--
-- No foreign keys: a grant may name a user or an app that is removed
-- later; what that means is the front's to decide.
CREATE TABLE grants (
	-- "C": grants created in the same millisecond are listed by ID byte by
	-- byte, as in SQLite.
	id         text        COLLATE "C" NOT NULL PRIMARY KEY,
	kind       text        NOT NULL,
	client_id  text        NOT NULL,
	user_id    text        NOT NULL,
	lookup     text        NOT NULL, -- a second key, unique within kind; empty for none
	family     text        NOT NULL,
	data       bytea       NOT NULL, -- the front's own; empty for none
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL,
	used_at    timestamptz,
	revoked_at timestamptz
);

-- GetGrantByLookup; grants without a lookup share the empty one.
CREATE UNIQUE INDEX grants_lookup ON grants (kind, lookup) WHERE lookup <> '';
-- The filters of ListGrants and RevokeGrants: a family, a client (and
-- user), a user alone, a kind (and what is live).
CREATE INDEX grants_family ON grants (family);
CREATE INDEX grants_client_user ON grants (client_id, user_id);
CREATE INDEX grants_user ON grants (user_id);
CREATE INDEX grants_kind_expires ON grants (kind, expires_at);
-- GarbageCollect, which looks at expiry alone.
CREATE INDEX grants_expires ON grants (expires_at);
