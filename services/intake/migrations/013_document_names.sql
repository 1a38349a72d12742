-- Issue 21: the name a reporter gave an uploaded file (it may name the child, e.g.
-- "anna_svensson_intyg.pdf") is kept with the document, only as ciphertext: sealed under the same
-- key as the content (`key_id`, the submission's data key), bound to
-- "<submission_id>:document:<n>:name". `name` stays intake's neutral label ("Bilaga 1"). NULL for
-- documents that have no reporter-given name (the original XML, the portal's PDF) and for those
-- stored before this migration. Crypto-shredding the data key makes it unreadable with the rest.
ALTER TABLE documents ADD COLUMN name_ciphertext bytea;
