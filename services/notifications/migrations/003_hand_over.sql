-- When a claimed delivery's message was about to leave: written (and committed) just before the
-- relay gets DATA or the webhook gets the POST. A claim whose sender died before that point
-- certainly sent nothing and goes back to `pending`; only one that had reached it may have been
-- sent and becomes `unknown` (DESIGN.md §2). Reset by every claim.
ALTER TABLE deliveries ADD COLUMN handed_over_at timestamptz;
