-- Issue 7: what assigning a referral reads must not grow with the team's caseload or history.
-- The latest assignment of a caseworker in a team is one probe of this index (max).
CREATE INDEX assignments_team_caseworker_at ON assignments (team, caseworker, assigned_at);

-- Open weighted load and assignments per day of each caseworker in a team, kept by a trigger in
-- the same transaction as every change to `assignments` (assignment, lifecycle, reassignment), so
-- reading them is one row each. numeric: the sums stay exact however often weights come and go.
CREATE TABLE caseworker_loads (
    team        text NOT NULL,
    caseworker  text NOT NULL,
    weighted    numeric NOT NULL,
    open_cases  integer NOT NULL,
    PRIMARY KEY (team, caseworker)
);
CREATE TABLE caseworker_days (
    team        text NOT NULL,
    caseworker  text NOT NULL,
    day         date NOT NULL,
    assigned    integer NOT NULL,
    PRIMARY KEY (team, caseworker, day)
);

CREATE FUNCTION track_caseworker_loads() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        IF OLD.status <> 'closed' THEN
            UPDATE caseworker_loads SET weighted = weighted - OLD.weight::numeric, open_cases = open_cases - 1
            WHERE team = OLD.team AND caseworker = OLD.caseworker;
        END IF;
        IF OLD.assigned_day IS NOT NULL THEN
            UPDATE caseworker_days SET assigned = assigned - 1
            WHERE team = OLD.team AND caseworker = OLD.caseworker AND day = OLD.assigned_day;
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        IF NEW.status <> 'closed' THEN
            INSERT INTO caseworker_loads AS l VALUES (NEW.team, NEW.caseworker, NEW.weight::numeric, 1)
            ON CONFLICT (team, caseworker) DO UPDATE
            SET weighted = l.weighted + EXCLUDED.weighted, open_cases = l.open_cases + 1;
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
    AFTER INSERT OR DELETE OR UPDATE OF team, caseworker, status, weight, assigned_day ON assignments
    FOR EACH ROW EXECUTE FUNCTION track_caseworker_loads();

INSERT INTO caseworker_loads
SELECT team, caseworker, sum(weight::numeric), count(*) FROM assignments WHERE status <> 'closed' GROUP BY 1, 2;
INSERT INTO caseworker_days
SELECT team, caseworker, assigned_day, count(*) FROM assignments WHERE assigned_day IS NOT NULL GROUP BY 1, 2, 3;
