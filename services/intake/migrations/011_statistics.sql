-- Issue 23: the non-personal statistics record of each referral, for the national follow-up
-- (NUSO) file. Codes, flags, a sex code, an age in years and instants only: no name, number or
-- free text; sex and age as the form gave them, never read from the number (DOMAIN.md §5).
-- Deliberately no foreign key to `referrals`: the record outlives the erasure of the
-- referral's personal data (and of its row, should a retention rule ever delete it).
CREATE TABLE statistics_records (
    referral_id             text PRIMARY KEY,
    received_at             timestamptz NOT NULL,   -- the legal receipt time
    kind                    text NOT NULL CHECK (kind IN ('report', 'application')),
    channel                 text NOT NULL,
    reporter_type           text NOT NULL,
    categories              text[] NOT NULL CHECK (cardinality(categories) > 0),
    acute_danger            boolean NOT NULL,
    sex                     text NOT NULL CHECK (sex IN ('girl', 'boy', 'other', 'unknown')),  -- as given
    age                     int CHECK (age >= 0),   -- from the given birth date; NULL: none given
    protection_assessed_at  timestamptz,            -- from referrals.updated.v1
    decision                text CHECK (decision IN ('open_investigation', 'no_investigation', 'joined_ongoing')),
    decided_at              timestamptz,
    CHECK ((decision IS NULL) = (decided_at IS NULL))
);
CREATE INDEX statistics_records_received ON statistics_records (received_at);
