-- A message the SMTP server refused permanently (5xx, or an address it cannot take) is held
-- here instead of being retried forever; an administrator's "deliver now" tries it again.
ALTER TABLE outbox ADD COLUMN refused_at INTEGER;
