-- Issue 22: threats and violence against staff, and the safety flag on a referral.
-- An incident holds codes only (type, channel) and ids: no free text, so no client name can be
-- typed into it. `team` is the recording person's team when they were recorded (NULL for intake
-- and the head of unit).
CREATE TABLE incidents (
    incident_id  uuid PRIMARY KEY,
    occurred_on  date NOT NULL,
    type         text NOT NULL CHECK (type IN ('threat', 'violence', 'harassment')),
    channel      text NOT NULL CHECK (channel ~ '^[a-z_]{1,40}$'),
    team         text,
    recorded_by  text NOT NULL,
    referral_id  text,
    recorded_at  timestamptz NOT NULL
);

CREATE INDEX incidents_occurred ON incidents (occurred_on, recorded_at);

-- The referral's safety flag ("two staff on home visits"): on the case's row, so the dossier and
-- the queues read it with the case; a reassignment updates other columns and keeps it. Every
-- change (set or cleared) is kept below: who, when, to what.
ALTER TABLE assignments ADD COLUMN safety_flag text CHECK (safety_flag IN ('two_staff_home_visits'));

CREATE TABLE safety_flag_changes (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    referral_id  text NOT NULL REFERENCES assignments (referral_id),
    safety_flag  text,
    set_by       text NOT NULL,
    set_at       timestamptz NOT NULL
);

CREATE INDEX safety_flag_changes_referral ON safety_flag_changes (referral_id, id);
