-- Issue 19: who may read a referral's dossier. Intake keeps a projection of assignment's events
-- (team, caseworker, mentor, status, deadlines), the referral's registration in the system of
-- record, and break-the-glass grants. Staff ids, codes and times only: no personal data.
CREATE TABLE access_projection (
    referral_id                 text PRIMARY KEY,
    team                        text,          -- NULL: an update arrived before the assignment
    caseworker                  text,
    mentor                      text,
    status                      text,
    protection_assessed         boolean NOT NULL DEFAULT false,
    protection_assessment_due   timestamptz,
    preliminary_assessment_due  timestamptz,
    investigation_due           timestamptz,
    feedback_due                timestamptz,
    updated_at                  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE registrations (
    referral_id         text PRIMARY KEY REFERENCES referrals ON DELETE CASCADE,
    system_case_number  text NOT NULL,
    registered_at       timestamptz NOT NULL,   -- when it was registered in the system of record
    registered_by       text NOT NULL,          -- staff id
    recorded_at         timestamptz NOT NULL    -- when intake was told
);

CREATE TABLE break_glass_grants (
    id           bigserial PRIMARY KEY,
    referral_id  text NOT NULL REFERENCES referrals ON DELETE CASCADE,
    staff        text NOT NULL,
    granted_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL CHECK (expires_at > granted_at)
);
CREATE INDEX break_glass_grants_reader ON break_glass_grants (referral_id, staff, expires_at);
