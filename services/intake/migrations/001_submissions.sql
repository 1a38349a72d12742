-- Submissions and their referrals. Personal details exist only in personal_details.ciphertext
-- (AES-256-GCM); every other column holds opaque ids, codes, flags or pseudonymous keys.
CREATE TABLE submissions (
    submission_id   text PRIMARY KEY,
    client_id       text NOT NULL,
    body_digest     bytea NOT NULL,        -- HMAC(pepper, raw body): detects a changed resubmission
    received_at     timestamptz NOT NULL,  -- the portal's submitted_at: the legal receipt time
    imported_at     timestamptz NOT NULL DEFAULT now(),
    response        jsonb NOT NULL
);

CREATE TABLE personal_details (
    submission_id   text PRIMARY KEY REFERENCES submissions ON DELETE CASCADE,
    key_id          text NOT NULL,
    ciphertext      bytea NOT NULL
);

CREATE TABLE referrals (
    referral_id     text PRIMARY KEY,
    submission_id   text NOT NULL REFERENCES submissions ON DELETE CASCADE,
    child_index     int NOT NULL,
    child_key       text NOT NULL,
    family_key      text NOT NULL,
    kind            text NOT NULL,
    received_at     timestamptz NOT NULL,
    acute_danger    boolean NOT NULL,
    protected_identity boolean NOT NULL,
    UNIQUE (submission_id, child_index)
);
CREATE INDEX referrals_child_key ON referrals (child_key);
