-- The deadline scan reads every unmet clock due within the longest reminder lead, every
-- scan_interval_s. Without these it read the whole table, closed history included, on every
-- scan; each index holds only the rows whose clock is still running.
CREATE INDEX assignments_protection_open ON assignments (protection_due)
    WHERE protection_assessed_at IS NULL AND closed_at IS NULL;
CREATE INDEX assignments_preliminary_open ON assignments (preliminary_due) WHERE decided_at IS NULL;
CREATE INDEX assignments_investigation_open ON assignments (investigation_due)
    WHERE closed_at IS NULL AND investigation_due IS NOT NULL;
CREATE INDEX assignments_feedback_open ON assignments (feedback_due)
    WHERE feedback_sent_at IS NULL AND feedback_due IS NOT NULL;
