-- Peers are keys, not names (names are not unique): every lineage edge also records the key id
-- of its source and target platforms, and matching (remote sessions, the sessions list, lineage
-- links) goes by key. Older edges get the key of the peer that bore the name when exactly one
-- did and it is not this platform's own name; this platform's own side stays empty (its key is
-- not in the database) and is matched by its own name.
ALTER TABLE lineage ADD COLUMN source_key TEXT NOT NULL DEFAULT '';
ALTER TABLE lineage ADD COLUMN target_key TEXT NOT NULL DEFAULT '';
UPDATE lineage SET source_key = (SELECT key_id FROM peers WHERE peers.name = lineage.source_platform)
 WHERE (SELECT COUNT(*) FROM peers WHERE peers.name = lineage.source_platform) = 1
   AND lineage.source_platform NOT IN (SELECT value FROM settings WHERE key = 'platform.name');
UPDATE lineage SET target_key = (SELECT key_id FROM peers WHERE peers.name = lineage.target_platform)
 WHERE (SELECT COUNT(*) FROM peers WHERE peers.name = lineage.target_platform) = 1
   AND lineage.target_platform NOT IN (SELECT value FROM settings WHERE key = 'platform.name');
CREATE INDEX lineage_target_key ON lineage (target_key, target_course);
