-- Issue 21: Open ePlatform as it really is.
-- An instance the portal no longer knows (purged or deleted: its fetch answers 404, or a callback
-- answers "The requested flow instance with ID … was not found") is 'gone': never retried, alerted.
ALTER TABLE oep_instances DROP CONSTRAINT oep_instances_state_check;
ALTER TABLE oep_instances ADD CONSTRAINT oep_instances_state_check CHECK (state IN
    ('received', 'stored', 'delivered', 'done', 'rejected', 'rejected_reported', 'gone'));

-- The FlowInstance XML of an instance that could not be imported, exactly as fetched and only as
-- ciphertext (AES-256-GCM, bound to "oep-raw:<flow_instance_id>"), so nothing the reporter wrote
-- is lost and `python -m services.intake.oep_remap` can import it after the mapping is fixed.
-- An imported instance keeps its original as document 1 of its submission (migration 007); its
-- row here is deleted in the transaction that stores it.
CREATE TABLE oep_raw_documents (
    flow_instance_id bigint PRIMARY KEY REFERENCES oep_instances ON DELETE CASCADE,
    charset          text,                  -- the HTTP Content-Type's charset, if it gave one
    size             int NOT NULL CHECK (size >= 0),
    key_id           text NOT NULL,
    ciphertext       bytea NOT NULL,
    kept_at          timestamptz NOT NULL DEFAULT now()
);
