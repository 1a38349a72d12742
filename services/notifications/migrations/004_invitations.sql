-- Issue 22: a consultation's email carries an iCalendar invitation (or its cancellation),
-- stored as JSON with the delivery and written out as text/calendar when the email is sent.
-- It names the slot, the time, the team's manager and the person who booked: no topic.
ALTER TABLE deliveries ADD COLUMN invitation text;
