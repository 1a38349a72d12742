-- Issue 19: the access log of personal details. Append-only and hash-chained: `seq` is gap-free
-- (appends are serialized by an advisory lock, never a sequence, which leaves gaps on rollback),
-- `hash` = SHA-256(prev_hash || canonical(seq, every field)) (services/intake/domain/access_chain.py),
-- so `referral-router verify-access-log` finds a changed, missing or reordered row.
CREATE TABLE access_log (
    seq          bigint PRIMARY KEY CHECK (seq > 0),
    at           timestamptz NOT NULL,
    staff        text NOT NULL,
    role         text NOT NULL,
    relation     text NOT NULL,
    referral_id  text NOT NULL,
    child_key    text,
    action       text NOT NULL,
    reason       text,
    outcome      text NOT NULL,
    client_addr  text,
    request_id   text,
    prev_hash    bytea NOT NULL,
    hash         bytea NOT NULL
);
CREATE INDEX access_log_referral ON access_log (referral_id, seq);
CREATE INDEX access_log_staff ON access_log (staff, seq);
CREATE INDEX access_log_at ON access_log (at);

-- Nobody changes or removes a row: neither PUBLIC nor the owning role (the role that runs the
-- migrations) keeps the privilege, and triggers refuse it even to a superuser who has not
-- switched them off (which then the hash chain shows).
CREATE FUNCTION access_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'access_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER access_log_no_update_or_delete BEFORE UPDATE OR DELETE ON access_log
    FOR EACH ROW EXECUTE FUNCTION access_log_is_append_only();
CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON access_log
    FOR EACH STATEMENT EXECUTE FUNCTION access_log_is_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON access_log FROM PUBLIC;
REVOKE UPDATE, DELETE, TRUNCATE ON access_log FROM CURRENT_USER;
