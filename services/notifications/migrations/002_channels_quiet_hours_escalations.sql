-- Teams cards, quiet-hours holding, a per-webhook send slot, and escalations (issue 5).
ALTER TABLE deliveries ADD COLUMN card text;                       -- Adaptive Card JSON (teams)
ALTER TABLE deliveries ADD COLUMN held boolean NOT NULL DEFAULT false;  -- waits for a digest
-- One row per Teams channel: the earliest time its next message may go. Taken in the claim
-- transaction, so the rate limit holds across restarts and between instances.
CREATE TABLE webhook_slots (
    recipient     text PRIMARY KEY,
    next_send_at  timestamptz NOT NULL DEFAULT '-infinity'
);
-- An acute referral waiting for acknowledgement: level 0 = nobody told yet, 1 = manager told,
-- 2 = head of unit told (done). Deleted by referral.acknowledged.
CREATE TABLE escalations (
    referral_id      text PRIMARY KEY,
    family_key       text NOT NULL,
    team             text NOT NULL,
    source_event_id  uuid NOT NULL,
    level            int NOT NULL DEFAULT 0,
    due_at           timestamptz NOT NULL,
    since            timestamptz NOT NULL      -- when the referral was assigned
);
CREATE INDEX escalations_due ON escalations (due_at) WHERE level < 2;
-- Acknowledgements that arrive before the assignment is seen must still stop escalation.
CREATE TABLE acknowledged (referral_id text PRIMARY KEY, at timestamptz NOT NULL);
