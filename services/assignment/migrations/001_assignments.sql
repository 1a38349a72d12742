-- One row per team, locked inside the assignment transaction so two instances never choose a
-- caseworker from stale counts.
CREATE TABLE team_locks (
    team text PRIMARY KEY
);

CREATE TABLE assignments (
    referral_id     text PRIMARY KEY,          -- one assignment per referral, the last defence
    family_key      text NOT NULL,
    child_key       text NOT NULL,
    team            text NOT NULL,
    caseworker      text NOT NULL,
    mentor          text,
    reason          text NOT NULL,
    explanation     text NOT NULL,
    source          text NOT NULL,             -- rotation | override: what the choice was based on
    period_start    timestamptz NOT NULL,
    received_at     timestamptz NOT NULL,
    assigned_at     timestamptz NOT NULL DEFAULT now(),
    status          text NOT NULL DEFAULT 'assigned',
    acute_danger    boolean NOT NULL,
    protected_identity boolean NOT NULL,
    protection_due  timestamptz NOT NULL,
    preliminary_due timestamptz NOT NULL
);
CREATE INDEX assignments_open_by_team ON assignments (team, caseworker) WHERE status <> 'closed';
CREATE INDEX assignments_family ON assignments (family_key);
