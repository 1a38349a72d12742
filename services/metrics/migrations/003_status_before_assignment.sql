-- A case's status may arrive before its assignment: referrals.updated.v1 and
-- referrals.assigned.v1 are different topics with no order between them (a consumer catching
-- up reads both at once). The status update used to be an UPDATE that found no row and was
-- lost, leaving the case "assigned" for ever. Now it creates the row, and the assignment
-- fills in team, caseworker and weight when it comes; until then the case is in no gauge.
ALTER TABLE cases
    ALTER COLUMN team DROP NOT NULL,
    ALTER COLUMN caseworker DROP NOT NULL,
    ALTER COLUMN weight DROP NOT NULL;
