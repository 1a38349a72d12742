-- Read models for the domain metrics. No client details: opaque referral ids and codes only.
CREATE TABLE received (
    referral_id     text PRIMARY KEY,
    kind            text NOT NULL,
    channel         text NOT NULL,
    reporter_group  text NOT NULL,
    acute           boolean NOT NULL,
    received_at     timestamptz NOT NULL
);

CREATE TABLE assigned (
    referral_id     text PRIMARY KEY,
    team            text NOT NULL,
    caseworker      text NOT NULL,
    reason          text NOT NULL,
    received_at     timestamptz NOT NULL,
    assigned_at     timestamptz NOT NULL,
    assignment_seconds double precision NOT NULL
);
