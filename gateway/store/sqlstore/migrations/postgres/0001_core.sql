-- Core gateway tables. Times are timestamptz (microseconds, UTC).
-- Personal data is sealed (bytea) or keyed-hashed (text).

CREATE TABLE accounts (
	id               text PRIMARY KEY,
	id_number_hash   text UNIQUE,
	id_number_sealed bytea NOT NULL,
	name_sealed      bytea NOT NULL,
	phone_hash       text UNIQUE,
	phone_sealed     bytea NOT NULL,
	password_hash    text NOT NULL,
	portal           text NOT NULL,
	created_at       timestamptz NOT NULL,
	updated_at       timestamptz NOT NULL,
	version          bigint NOT NULL
);

CREATE TABLE evidence (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	account_id  text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	provider    text NOT NULL,
	level       text NOT NULL,
	reference   text NOT NULL,
	verified_at timestamptz NOT NULL
);
CREATE INDEX evidence_account ON evidence (account_id);

CREATE TABLE links (
	provider   text NOT NULL,
	subject    text NOT NULL,
	account_id text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	created_at timestamptz NOT NULL,
	PRIMARY KEY (provider, subject)
);
CREATE INDEX links_account ON links (account_id);

CREATE TABLE sessions (
	id                  text PRIMARY KEY,
	account_id          text NOT NULL,
	data                bytea NOT NULL,
	created_at          timestamptz NOT NULL,
	last_seen_at        timestamptz NOT NULL,
	expires_at          timestamptz NOT NULL,
	absolute_expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_account ON sessions (account_id) WHERE account_id <> '';
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_absolute_expires ON sessions (absolute_expires_at);

CREATE TABLE flows (
	id         text PRIMARY KEY,
	kind       text NOT NULL,
	session_id text NOT NULL,
	state      bytea NOT NULL,
	version    bigint NOT NULL,
	created_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL
);
CREATE INDEX flows_expires ON flows (expires_at);

CREATE TABLE kv (
	key        text PRIMARY KEY,
	value      bytea NOT NULL,
	expires_at timestamptz NOT NULL
);
CREATE INDEX kv_expires ON kv (expires_at);

-- One row per key, window length and window start.
CREATE TABLE counters (
	key          text NOT NULL,
	window_us    bigint NOT NULL,
	window_start timestamptz NOT NULL,
	total        bigint NOT NULL,
	expires_at   timestamptz NOT NULL,
	PRIMARY KEY (key, window_us, window_start)
);
CREATE INDEX counters_expires ON counters (expires_at);

CREATE TABLE audit (
	seq       bigint PRIMARY KEY,
	time      timestamptz NOT NULL,
	kind      text NOT NULL,
	actor     text NOT NULL,
	subject   text NOT NULL,
	detail    bytea NOT NULL,
	prev_hash bytea NOT NULL,
	hash      bytea NOT NULL
);

-- The chain head: the last Seq and Hash. Appends lock it (FOR UPDATE)
-- and update it inside their transaction, which serializes them.
CREATE TABLE audit_head (
	id   integer PRIMARY KEY CHECK (id = 1),
	seq  bigint NOT NULL,
	hash bytea NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '\x');

-- The audit chain is append-only.
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit records are append-only';
END;
$$;
CREATE TRIGGER audit_no_update_delete BEFORE UPDATE OR DELETE ON audit
	FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
	FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
