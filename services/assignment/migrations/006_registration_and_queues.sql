-- Issue 19: registration in the system of record, its deadline, and the staff's work queues.
ALTER TABLE assignments
    ADD COLUMN registration_due timestamptz,   -- NULL on rows assigned before this migration
    ADD COLUMN registered_at    timestamptz,
    ADD COLUMN registered_by    text;

-- A registration travels on its own topic, so it may be handled before its referral is assigned:
-- it is kept here and copied onto the assignment when that is stored (and onto it at once if it
-- is there already). One row per referral: the first registration counts.
CREATE TABLE registrations (
    referral_id    text PRIMARY KEY,
    registered_at  timestamptz NOT NULL,
    registered_by  text NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now()
);

-- The deadline scan's branch for the registration clock reads only unregistered rows.
CREATE INDEX assignments_registration_open ON assignments (registration_due)
    WHERE registered_at IS NULL AND registration_due IS NOT NULL;

-- A queue is ordered most urgent first: by the earliest due time among the clocks still running
-- (a breached one is always earlier than any other), then referral id. Kept by Postgres as a
-- column, so each queue is a range scan of an index in its order and the keyset cursor a seek.
-- The clocks' "still running" are exactly the deadline scan's (postgres_schedules.py) and the
-- domain's (domain/queue.py); far in the future when none runs, so the key is never NULL.
ALTER TABLE assignments ADD COLUMN next_due timestamptz GENERATED ALWAYS AS (coalesce(least(
    CASE WHEN protection_assessed_at IS NULL AND closed_at IS NULL THEN protection_due END,
    CASE WHEN decided_at IS NULL THEN preliminary_due END,
    CASE WHEN closed_at IS NULL THEN investigation_due END,
    CASE WHEN feedback_sent_at IS NULL THEN feedback_due END,
    CASE WHEN registered_at IS NULL THEN registration_due END
), '9999-12-31 00:00:00+00'::timestamptz)) STORED;

CREATE INDEX assignments_queue ON assignments (next_due, referral_id COLLATE "C");
CREATE INDEX assignments_queue_caseworker ON assignments (caseworker, next_due, referral_id COLLATE "C");
CREATE INDEX assignments_queue_mentor ON assignments (mentor, next_due, referral_id COLLATE "C") WHERE mentor IS NOT NULL;
CREATE INDEX assignments_queue_team ON assignments (team, next_due, referral_id COLLATE "C");
