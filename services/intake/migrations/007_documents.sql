-- Issue 19: documents kept with a submission; today the original FlowInstance XML of an Open
-- ePlatform submission, as fetched. The content exists only as `ciphertext` (AES-256-GCM, bound
-- to "<submission_id>:document:<n>"); `name` is a fixed label intake chooses, never a file name a
-- person gave, and `media_type` and `size` say nothing about the child.
CREATE TABLE documents (
    submission_id   text NOT NULL REFERENCES submissions ON DELETE CASCADE,
    n               int NOT NULL CHECK (n > 0),
    name            text NOT NULL,
    media_type      text NOT NULL,
    size            int NOT NULL CHECK (size >= 0),
    key_id          text NOT NULL,
    ciphertext      bytea NOT NULL,
    PRIMARY KEY (submission_id, n)
);
