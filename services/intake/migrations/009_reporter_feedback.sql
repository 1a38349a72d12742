-- Issue 23: feedback to mandatory reporters (SoL 2025:400 19 kap. 6 §). Codes, times and staff
-- ids only: who the reporter is, and their address, stay in personal_details.ciphertext.
-- The outcome of each referral's preliminary assessment, as assignment announced it.
CREATE TABLE decisions (
    referral_id  text PRIMARY KEY,
    decision     text NOT NULL,
    decided_at   timestamptz NOT NULL
);

-- A request recorded by staff after the report (one made with the report is in the form).
CREATE TABLE feedback_requests (
    referral_id   text PRIMARY KEY REFERENCES referrals ON DELETE CASCADE,
    requested_at  timestamptz NOT NULL,
    channel       text NOT NULL CHECK (channel IN ('email', 'letter')),
    source        text NOT NULL CHECK (source IN ('report', 'staff')),
    recorded_by   text NOT NULL,
    recorded_at   timestamptz NOT NULL
);

-- Feedback owed on a decided referral, and how far its sending got (domain/feedback.py).
CREATE TABLE feedback_sendings (
    referral_id      text PRIMARY KEY REFERENCES referrals ON DELETE CASCADE,
    decision         text NOT NULL,
    decided_at       timestamptz NOT NULL,
    channel          text CHECK (channel IN ('email', 'letter')),
    state            text NOT NULL
                     CHECK (state IN ('pending', 'sending', 'sent', 'letter', 'failed', 'unknown')),
    attempts         int NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    sent_at          timestamptz,
    sent_by          text,
    error            text,  -- an exception's class or an SMTP code, never a message's content
    CHECK ((state = 'sent') = (sent_at IS NOT NULL))
);
CREATE INDEX feedback_sendings_due ON feedback_sendings (next_attempt_at) WHERE state = 'pending';
