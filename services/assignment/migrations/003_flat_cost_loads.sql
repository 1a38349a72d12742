-- Issue 7: a referral's reads must not grow with the unit's closed history. Per caseworker, the
-- latest assignment in a team is one probe of this index (max), and today's count one range of
-- it; open loads already have the partial index assignments_open_by_team.
CREATE INDEX assignments_team_caseworker_at ON assignments (team, caseworker, assigned_at);
