-- Issue 19: the monthly access-log review is sent once per month, however many intake instances
-- run and restart. The row is inserted in the statement that puts the `access.review` event in
-- the outbox (adapters/postgres_reviews.py), so both are committed or neither; a second instance
-- waits on the primary key and then inserts nothing.
CREATE TABLE access_reviews (
    month    text PRIMARY KEY CHECK (month ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
    sent_at  timestamptz NOT NULL
);
