-- 0004: each token's last use lives on the token, kept by the audit loader
-- once per batch, instead of being found through an (token_id, time) index
-- on the audit log. That index cost about 15% of every audit row's insert;
-- "when was this token last used" is the only question it answered. Last
-- use now also outlives audit retention.
ALTER TABLE tokens ADD COLUMN last_used_at INTEGER;  -- unix ns; NULL: never
ALTER TABLE tokens ADD COLUMN last_uid INTEGER;      -- the peer of that request
ALTER TABLE tokens ADD COLUMN last_unit TEXT;

-- With max(), SQLite takes the bare columns from the row holding the maximum.
UPDATE tokens SET (last_used_at, last_uid, last_unit) =
    (SELECT max(time), uid, unit FROM audit WHERE audit.token_id = tokens.id);

DROP INDEX audit_token_time;
