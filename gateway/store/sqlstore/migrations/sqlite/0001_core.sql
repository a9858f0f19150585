-- Core gateway tables. Times are INTEGER microseconds since the Unix
-- epoch, UTC. Personal data is sealed (BLOB) or keyed-hashed (TEXT).

CREATE TABLE accounts (
	id               TEXT PRIMARY KEY,
	id_number_hash   TEXT UNIQUE,
	id_number_sealed BLOB NOT NULL,
	name_sealed      BLOB NOT NULL,
	phone_hash       TEXT UNIQUE,
	phone_sealed     BLOB NOT NULL,
	password_hash    TEXT NOT NULL,
	portal           TEXT NOT NULL,
	created_at       INTEGER NOT NULL,
	updated_at       INTEGER NOT NULL,
	version          INTEGER NOT NULL
) STRICT;

CREATE TABLE evidence (
	id          INTEGER PRIMARY KEY,
	account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	provider    TEXT NOT NULL,
	level       TEXT NOT NULL,
	reference   TEXT NOT NULL,
	verified_at INTEGER NOT NULL
) STRICT;
CREATE INDEX evidence_account ON evidence (account_id);

CREATE TABLE links (
	provider   TEXT NOT NULL,
	subject    TEXT NOT NULL,
	account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (provider, subject)
) STRICT;
CREATE INDEX links_account ON links (account_id);

CREATE TABLE sessions (
	id                  TEXT PRIMARY KEY,
	account_id          TEXT NOT NULL,
	data                BLOB NOT NULL,
	created_at          INTEGER NOT NULL,
	last_seen_at        INTEGER NOT NULL,
	expires_at          INTEGER NOT NULL,
	absolute_expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_account ON sessions (account_id) WHERE account_id <> '';
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_absolute_expires ON sessions (absolute_expires_at);

CREATE TABLE flows (
	id         TEXT PRIMARY KEY,
	kind       TEXT NOT NULL,
	session_id TEXT NOT NULL,
	state      BLOB NOT NULL,
	version    INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX flows_expires ON flows (expires_at);

CREATE TABLE kv (
	key        TEXT PRIMARY KEY,
	value      BLOB NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX kv_expires ON kv (expires_at);

-- One row per key, window length and window start.
CREATE TABLE counters (
	key          TEXT NOT NULL,
	window_us    INTEGER NOT NULL,
	window_start INTEGER NOT NULL,
	total        INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL,
	PRIMARY KEY (key, window_us, window_start)
) STRICT;
CREATE INDEX counters_expires ON counters (expires_at);

CREATE TABLE audit (
	seq       INTEGER PRIMARY KEY,
	time      INTEGER NOT NULL,
	kind      TEXT NOT NULL,
	actor     TEXT NOT NULL,
	subject   TEXT NOT NULL,
	detail    BLOB NOT NULL,
	prev_hash BLOB NOT NULL,
	hash      BLOB NOT NULL
) STRICT;

-- The chain head: the last Seq and Hash. Appends update it inside their
-- write transaction, which serializes them.
CREATE TABLE audit_head (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	seq  INTEGER NOT NULL,
	hash BLOB NOT NULL
) STRICT;
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, x'');

-- The audit chain is append-only.
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
	SELECT RAISE(ABORT, 'audit records are append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
	SELECT RAISE(ABORT, 'audit records are append-only');
END;
