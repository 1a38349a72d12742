-- Issue 20: the head of unit's list of monthly reviews (GET /v1/access-reviews) shows each month's
-- figures without reading the outbox (whose rows are deleted once published): how many rows were
-- reviewed, how many findings of each kind (a JSON object kind -> count), and the chain's head when
-- it was sent (the anchor verify-access-log checks). Counts and the anchor only: no staff or
-- referral ids. Reviews sent before this migration keep NULL here; the list says so.
ALTER TABLE access_reviews
    ADD COLUMN entries     integer CHECK (entries >= 0),
    ADD COLUMN findings    jsonb CHECK (findings IS NULL OR jsonb_typeof(findings) = 'object'),
    ADD COLUMN chain_seq   bigint CHECK (chain_seq >= 1),
    ADD COLUMN chain_hash  text CHECK (chain_hash ~ '^[0-9a-f]{64}$');
