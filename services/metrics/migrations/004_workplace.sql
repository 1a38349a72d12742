-- Issue 22: the working environment, by team and never by person (no staff ids here).
-- One row per overload flag: escalated once seen escalated; the first answer's seconds kept.
CREATE TABLE overload_flags (
    flag_id           uuid PRIMARY KEY,
    team              text NOT NULL,
    escalated         boolean NOT NULL,
    response_seconds  double precision          -- NULL while the flag is unanswered
);
-- One row per consultation: booked and cancelled once seen so.
CREATE TABLE consultations (
    consultation_id  uuid PRIMARY KEY,
    team             text NOT NULL,
    booked           boolean NOT NULL,
    cancelled        boolean NOT NULL
);
-- One row per threat, violence or harassment recorded (team 'none' without a team).
CREATE TABLE incidents (
    incident_id  uuid PRIMARY KEY,
    type         text NOT NULL,
    team         text NOT NULL
);
