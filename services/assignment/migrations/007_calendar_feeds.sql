-- Issue 20: calendar subscription links. A feed token is a random 32-byte secret in the URL
-- that Outlook subscribes to; only its SHA-256 (hex) is kept, so this table opens no feed.
-- A row is never deleted by the API: revoking sets revoked_at, which ends the feed for good.
CREATE TABLE calendar_feeds (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    staff_id      text NOT NULL,
    token_hash    text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL CHECK (expires_at > created_at),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);

CREATE INDEX calendar_feeds_staff ON calendar_feeds (staff_id, id);
