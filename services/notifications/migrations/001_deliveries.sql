-- One row per source event x recipient x channel: the unique key is the last defence against
-- sending twice. Content is rendered when the row is created and holds no client details.
CREATE TABLE deliveries (
    id               bigserial PRIMARY KEY,
    source_event_id  uuid NOT NULL,
    recipient        text NOT NULL,            -- staff id or team id
    channel          text NOT NULL,            -- email | teams
    kind             text NOT NULL,            -- what happened, e.g. referral.assigned
    referral_id      text,
    family_key       text NOT NULL,
    subject          text NOT NULL,
    body_text        text NOT NULL,
    body_html        text,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'unknown')),
    attempts         int NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    claimed_until    timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    UNIQUE (source_event_id, recipient, channel)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_sending ON deliveries (claimed_until) WHERE status = 'sending';
