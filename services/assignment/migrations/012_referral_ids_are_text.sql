-- Issue 22: a consultation's and an incident's referral is intake's referral id, which is an
-- opaque text id such as `R-7Q2K9M3XH4TB` (the `assignments` table's text key), not a UUID as
-- migrations 009 and 010 assumed: with uuid columns no real referral could be named.
ALTER TABLE consultations ALTER COLUMN referral_id TYPE text USING referral_id::text;
ALTER TABLE incidents ALTER COLUMN referral_id TYPE text USING referral_id::text;
