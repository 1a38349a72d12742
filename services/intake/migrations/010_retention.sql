-- Issue 23: retention and erasure by crypto-shredding.
--
-- Each submission's details and documents are sealed under its own data key (key_id 'dek' on
-- those rows); the key lives here, wrapped by a key-encryption key from CRYPTO__KEYS. Erasing the
-- referral sets `wrapped` to NULL: the ciphertext stays and can never be opened again. Rows
-- written before this migration keep their global key id until `rekey` moves them to a data key
-- (or the retention job erases them, which deletes such legacy ciphertext outright).
CREATE TABLE data_keys (
    submission_id  text PRIMARY KEY REFERENCES submissions ON DELETE CASCADE,
    key_id         text,          -- the key-encryption key; NULL once destroyed
    wrapped        bytea,         -- the data key, wrapped; NULL once destroyed
    destroyed_at   timestamptz,
    CHECK ((wrapped IS NULL) = (destroyed_at IS NOT NULL)),
    CHECK ((wrapped IS NULL) = (key_id IS NULL))
);
CREATE INDEX data_keys_key_id ON data_keys (key_id) WHERE wrapped IS NOT NULL;

-- Legal holds (a referral, or every referral about a child by its child_key): set and lifted by a
-- manager or the head of unit; rows are never deleted, so the table is the holds' own log.
CREATE TABLE legal_holds (
    id           bigserial PRIMARY KEY,
    scope        text NOT NULL CHECK (scope IN ('referral', 'child')),
    referral_id  text NOT NULL REFERENCES referrals,  -- the referral it was set through
    child_key    text NOT NULL,
    reason       text NOT NULL,
    set_by       text NOT NULL,
    set_at       timestamptz NOT NULL,
    lifted_by    text,
    lifted_at    timestamptz,
    CHECK ((lifted_by IS NULL) = (lifted_at IS NULL))
);
CREATE UNIQUE INDEX legal_holds_one_active ON legal_holds (scope, referral_id) WHERE lifted_at IS NULL;
CREATE INDEX legal_holds_child ON legal_holds (child_key) WHERE lifted_at IS NULL;

-- What was erased, when, by which rule: ids, keys and times, never content. One row per referral;
-- the referral's own row (codes, flags, child_key) stays as the non-personal work record, so the
-- register extract still finds an erased referral by the child's keyed hash.
CREATE TABLE retention_log (
    referral_id    text PRIMARY KEY REFERENCES referrals,
    submission_id  text NOT NULL,
    child_key      text NOT NULL,
    erased_at      timestamptz NOT NULL,
    rule           text NOT NULL,
    run_id         text NOT NULL
);
CREATE INDEX retention_log_child_key ON retention_log (child_key);
