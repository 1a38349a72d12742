-- Issue 4: weighted selection, continuity, case lifecycle, deadlines, overrides, absences and
-- exactly-once scheduled events.
ALTER TABLE assignments
    ADD COLUMN seq bigserial,                  -- commit order within a team (the team lock serialises)
    ADD COLUMN period_end timestamptz,
    ADD COLUMN assigned_day date,              -- local day of the assignment instant
    ADD COLUMN categories text[] NOT NULL DEFAULT '{}',
    ADD COLUMN interpreter_needed boolean NOT NULL DEFAULT false,
    ADD COLUMN weight double precision NOT NULL DEFAULT 1.0,
    ADD COLUMN feedback_requested boolean NOT NULL DEFAULT false,
    ADD COLUMN acknowledged_at timestamptz,
    ADD COLUMN protection_assessed_at timestamptz,
    ADD COLUMN protection_outcome text,
    ADD COLUMN decided_at timestamptz,
    ADD COLUMN decision text,
    ADD COLUMN investigation_opened_on date,
    ADD COLUMN investigation_due timestamptz,
    ADD COLUMN feedback_due timestamptz,
    ADD COLUMN feedback_sent_at timestamptz,
    ADD COLUMN closed_at timestamptz;
CREATE INDEX assignments_child ON assignments (child_key);
CREATE INDEX assignments_day ON assignments (caseworker, assigned_day);

CREATE TABLE rotation_overrides (
    id          bigserial PRIMARY KEY,             -- later overrides win over earlier ones
    team        text NOT NULL,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    reason      text NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at)
);
CREATE INDEX rotation_overrides_window ON rotation_overrides (starts_at, ends_at);

CREATE TABLE absences (
    id          bigserial PRIMARY KEY,
    staff_id    text NOT NULL,
    starts_on   date NOT NULL,
    ends_on     date NOT NULL,
    kind        text NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_on >= starts_on)
);
CREATE INDEX absences_staff ON absences (staff_id, ends_on);

CREATE TABLE investigation_extensions (
    id           bigserial PRIMARY KEY,
    referral_id  text NOT NULL REFERENCES assignments (referral_id),
    decided_on   date NOT NULL,
    decided_by   text NOT NULL,
    new_due      timestamptz NOT NULL,
    reason       text NOT NULL
);

-- One row per emitted deadline alert: the unique key makes every alert exactly-once, across
-- restarts and concurrent schedulers. `due_at` is in the key so an extension gets new reminders.
CREATE TABLE deadline_alerts (
    referral_id  text NOT NULL,
    deadline     text NOT NULL,
    alert        text NOT NULL,                -- approaching:<lead seconds> | breached
    due_at       timestamptz NOT NULL,
    emitted_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (referral_id, deadline, alert, due_at)
);

CREATE TABLE rotation_handovers (
    at          timestamptz PRIMARY KEY,       -- one event per boundary
    from_team   text NOT NULL,
    to_team     text NOT NULL,
    emitted_at  timestamptz NOT NULL DEFAULT now()
);
