-- Issue 22: consultations booked in the fixed meeting times of the unit file. The topic is free
-- text the booker typed: it stays in this table and assignment's API, never in an event.
-- One live consultation per team and start: the partial unique index holds it under concurrent
-- bookings (INSERT ... ON CONFLICT DO NOTHING waits for a competing insert, then skips).
CREATE TABLE consultations (
    consultation_id  uuid PRIMARY KEY,
    slot_id          text NOT NULL,
    team             text NOT NULL,
    starts_at        timestamptz NOT NULL,
    ends_at          timestamptz NOT NULL CHECK (ends_at > starts_at),
    requester        text NOT NULL,
    topic            text NOT NULL CHECK (char_length(topic) BETWEEN 1 AND 200),
    referral_id      text,
    booked_at        timestamptz NOT NULL,
    cancelled_at     timestamptz,
    cancelled_by     text,
    sequence         int NOT NULL DEFAULT 0 CHECK (sequence >= 0),
    reminded_at      timestamptz
);

CREATE UNIQUE INDEX consultations_one_per_team_start ON consultations (team, starts_at)
    WHERE cancelled_at IS NULL;
CREATE INDEX consultations_starts ON consultations (starts_at);
CREATE INDEX consultations_requester ON consultations (requester, starts_at);
