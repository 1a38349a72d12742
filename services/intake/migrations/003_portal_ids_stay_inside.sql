-- Issue 24: a portal's submission id never leaves intake and is not kept as it came. From now on
-- `submissions.submission_id` is intake's own opaque reference ("S-…"), which events, logs and
-- the other tables use; the portal's id is kept only as `portal_key`, a keyed digest (HMAC with
-- the pepper) of the portal client and its id, so two clients' ids never collide.
ALTER TABLE submissions ADD COLUMN portal_key bytea;
CREATE UNIQUE INDEX submissions_portal_key ON submissions (portal_key);
-- Rows stored before this keep the portal's id as their reference (it has travelled in their
-- events already); intake gives them their portal_key at start-up (it needs the pepper). Their
-- stored answer names the submission by reference, as new answers do.
UPDATE submissions
   SET response = (response - 'submission_id') || jsonb_build_object('reference', submission_id)
 WHERE response ? 'submission_id';
