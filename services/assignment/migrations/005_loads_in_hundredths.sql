-- Issue 18: one source of truth for load arithmetic. A case's weight and a caseworker's load are
-- whole hundredths of a case (integers) everywhere: in these columns, in the trigger, which stays
-- the only writer of `caseworker_loads`, and in Python, which carries a batch's loads forward by
-- integer addition. A load carried forward and a fresh read can then never differ by a rounding,
-- and the managers' workload view reads the same rows as the decisions. The wire event keeps its
-- float weight, converted at the edge.
--
-- The columns are renamed so that code still writing a float weight (an instance of the previous
-- version during a rolling update) fails loudly instead of having its weights truncated.

DROP TRIGGER assignments_track_caseworker_loads ON assignments;

ALTER TABLE assignments ALTER COLUMN weight DROP DEFAULT;
-- The unit file's weights have at most two decimals (the service now refuses finer ones).
ALTER TABLE assignments ALTER COLUMN weight TYPE integer USING round(weight * 100)::integer;
ALTER TABLE assignments RENAME COLUMN weight TO weight_hundredths;
ALTER TABLE assignments ALTER COLUMN weight_hundredths SET DEFAULT 100;

-- Recounted from the converted weights rather than converted: the loads are then exactly the sums
-- the trigger keeps from here on, whatever rounding the numeric sums held.
ALTER TABLE caseworker_loads RENAME COLUMN weighted TO weighted_hundredths;
ALTER TABLE caseworker_loads ALTER COLUMN weighted_hundredths TYPE bigint USING 0;
DELETE FROM caseworker_loads;
INSERT INTO caseworker_loads (team, caseworker, weighted_hundredths, open_cases)
SELECT team, caseworker, sum(weight_hundredths), count(*) FROM assignments WHERE status <> 'closed' GROUP BY 1, 2;

CREATE OR REPLACE FUNCTION track_caseworker_loads() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        IF OLD.status <> 'closed' THEN
            UPDATE caseworker_loads
            SET weighted_hundredths = weighted_hundredths - OLD.weight_hundredths, open_cases = open_cases - 1
            WHERE team = OLD.team AND caseworker = OLD.caseworker;
        END IF;
        IF OLD.assigned_day IS NOT NULL THEN
            UPDATE caseworker_days SET assigned = assigned - 1
            WHERE team = OLD.team AND caseworker = OLD.caseworker AND day = OLD.assigned_day;
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        IF NEW.status <> 'closed' THEN
            INSERT INTO caseworker_loads AS l VALUES (NEW.team, NEW.caseworker, NEW.weight_hundredths, 1)
            ON CONFLICT (team, caseworker) DO UPDATE
            SET weighted_hundredths = l.weighted_hundredths + EXCLUDED.weighted_hundredths,
                open_cases = l.open_cases + 1;
        END IF;
        IF NEW.assigned_day IS NOT NULL THEN
            INSERT INTO caseworker_days AS d VALUES (NEW.team, NEW.caseworker, NEW.assigned_day, 1)
            ON CONFLICT (team, caseworker, day) DO UPDATE SET assigned = d.assigned + 1;
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER assignments_track_caseworker_loads
    AFTER INSERT OR DELETE OR UPDATE OF team, caseworker, status, weight_hundredths, assigned_day ON assignments
    FOR EACH ROW EXECUTE FUNCTION track_caseworker_loads();
