-- Open ePlatform polling (DOMAIN.md §4): a cursor per e-service family and a state machine per
-- FlowInstance, so a killed poller resumes where it was and never confirms twice.
-- No personal data here: portal ids, states, counts and error summaries that name tags or
-- field paths only.
CREATE TABLE oep_cursors (
    family_id        text PRIMARY KEY,
    last_seen        timestamptz NOT NULL      -- poll from this instant's local date next time
);

-- received -> stored -> delivered -> done             (mapped and committed; callbacks after commit)
-- received -> (attempts >= max) rejected -> rejected_reported  (unmappable; status set in the portal)
CREATE TABLE oep_instances (
    flow_instance_id bigint PRIMARY KEY,
    family_id        text NOT NULL,
    state            text NOT NULL CHECK (state IN
                         ('received', 'stored', 'delivered', 'done', 'rejected', 'rejected_reported')),
    attempts         int NOT NULL DEFAULT 0,
    last_error       text,
    first_submitted  timestamptz,
    submission_id    text REFERENCES submissions,
    referral_ids     text[] NOT NULL DEFAULT '{}',
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX oep_instances_awaiting_callback ON oep_instances (flow_instance_id)
    WHERE state IN ('stored', 'delivered', 'rejected');
