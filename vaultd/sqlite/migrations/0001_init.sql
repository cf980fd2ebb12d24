-- 0001: API tokens and the audit log.
--
-- Times are unix nanoseconds. Tables are STRICT so that a wrong type is an
-- error rather than a silently stored string.

-- A token is stored only as the SHA-256 of its text. A name is unique among
-- active tokens, so a revoked token's name can be reused; ids never are.
CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    hash       BLOB NOT NULL UNIQUE,
    grants     TEXT NOT NULL,    -- JSON: [{"pattern": "...", "level": "read|write|admin"}]
    created_at INTEGER NOT NULL,
    expires_at INTEGER,          -- NULL: never expires
    bind_uid   INTEGER,          -- NULL: usable from any uid
    revoked_at INTEGER           -- NULL: active
) STRICT;

CREATE UNIQUE INDEX tokens_active_name ON tokens (name) WHERE revoked_at IS NULL;

-- One row per request. seq orders rows by commit; text columns are NULL
-- when the daemon had nothing to record.
CREATE TABLE audit (
    seq         INTEGER PRIMARY KEY,
    time        INTEGER NOT NULL,
    request_id  TEXT,
    token_id    TEXT,
    client      TEXT,
    pid         INTEGER,
    uid         INTEGER,
    gid         INTEGER,
    exe         TEXT,
    unit        TEXT,
    method      TEXT NOT NULL,
    path        TEXT,
    outcome     TEXT NOT NULL,
    code        TEXT,
    detail      TEXT,             -- why a request was refused, in words we chose
    duration_us INTEGER
) STRICT;

CREATE INDEX audit_time ON audit (time);
CREATE INDEX audit_token_time ON audit (token_id, time);
