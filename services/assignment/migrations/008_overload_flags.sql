-- Issue 22: overload flags. A caseworker flags that they are at their limit; until their
-- manager answers (relieve / reassign / keep) they get no new referrals but the same child's
-- open case, and a relief scales their capacity until relief_until. `note` is free text the
-- person typed: it stays in this table and assignment's API, never in an event or a log.
CREATE TABLE overload_flags (
    flag_id          uuid PRIMARY KEY,
    staff_id         text NOT NULL,
    team             text NOT NULL,
    note             text CHECK (char_length(note) <= 300),
    raised_at        timestamptz NOT NULL,
    escalate_at      timestamptz NOT NULL CHECK (escalate_at >= raised_at),
    escalated_at     timestamptz,
    action           text CHECK (action IN ('relieve', 'reassign', 'keep')),
    responded_by     text,
    responded_at     timestamptz,
    comment          text CHECK (char_length(comment) <= 500),
    capacity_factor  numeric CHECK (capacity_factor > 0 AND capacity_factor <= 1),
    relief_until     timestamptz,
    reassigned       int CHECK (reassigned >= 0),
    -- an answer is whole or absent: never half stored
    CHECK ((responded_at IS NULL) = (action IS NULL) AND (action IS NULL) = (responded_by IS NULL)),
    CHECK (action IS DISTINCT FROM 'relieve' OR (capacity_factor IS NOT NULL AND relief_until IS NOT NULL))
);

-- One open flag per person: a second one is refused (409) rather than stored twice.
CREATE UNIQUE INDEX overload_flags_one_open ON overload_flags (staff_id) WHERE responded_at IS NULL;
-- What assignment reads before each batch: open flags and running reliefs.
CREATE INDEX overload_flags_in_effect ON overload_flags (relief_until) WHERE action = 'relieve';
CREATE INDEX overload_flags_escalation ON overload_flags (escalate_at)
    WHERE responded_at IS NULL AND escalated_at IS NULL;
CREATE INDEX overload_flags_team ON overload_flags (team, raised_at);
CREATE INDEX overload_flags_staff ON overload_flags (staff_id, raised_at);
