-- Read models for every topic. Events arrive on several topics whose relative order is not
-- guaranteed, so every projection is an idempotent upsert that tolerates any arrival order.
CREATE TABLE assignment_events (
    event_id    uuid PRIMARY KEY,
    referral_id text NOT NULL,
    team        text NOT NULL,
    reason      text NOT NULL
);

CREATE TABLE cases (
    referral_id text PRIMARY KEY,
    team        text NOT NULL,
    caseworker  text NOT NULL,
    status      text NOT NULL,
    weight      double precision NOT NULL,
    status_at   timestamptz NOT NULL
);

-- state rank: ok 0 < approaching 1 < breached 2 < met 3; a projection only ever moves up.
CREATE TABLE deadline_states (
    referral_id text NOT NULL,
    deadline    text NOT NULL,
    due_at      timestamptz,
    team        text,
    state       text NOT NULL CHECK (state IN ('ok', 'approaching', 'breached', 'met')),
    PRIMARY KEY (referral_id, deadline)
);

CREATE TABLE breaches (
    referral_id text NOT NULL,
    deadline    text NOT NULL,
    team        text NOT NULL,
    PRIMARY KEY (referral_id, deadline)
);

CREATE TABLE handovers (
    at          timestamptz PRIMARY KEY,
    from_team   text NOT NULL,
    to_team     text NOT NULL,
    next_at     timestamptz
);

CREATE TABLE notification_outcomes (
    event_id    uuid PRIMARY KEY,
    channel     text NOT NULL,
    outcome     text NOT NULL
);
