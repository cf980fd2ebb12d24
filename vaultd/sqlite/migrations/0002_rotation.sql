-- 0002: the state of each token rotation, shared by the rotator and
-- vault-cli through the daemon. Times are unix nanoseconds; NULL is "never"
-- or "unknown". No token value is ever stored here.
CREATE TABLE rotation (
    name         TEXT PRIMARY KEY,
    path         TEXT NOT NULL,    -- the access token's path
    state        TEXT NOT NULL,    -- idle | running | answered | in_doubt
    last_attempt INTEGER,
    last_success INTEGER,
    expires_at   INTEGER,
    next_due     INTEGER,
    lease_until  INTEGER,
    failures     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    permanent    INTEGER NOT NULL DEFAULT 0
) STRICT;
