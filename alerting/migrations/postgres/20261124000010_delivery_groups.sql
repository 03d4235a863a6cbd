-- Grouping: a grouped route's deliveries wait as 'held' under their group key; when the group is due
-- the oldest one carries them all (its body becomes the batch, flushed_at set) and the others are
-- 'merged' into it.
ALTER TABLE deliveries ADD COLUMN group_key TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN merged_into BIGINT REFERENCES deliveries (id);
ALTER TABLE deliveries ADD COLUMN flushed_at TIMESTAMPTZ;
CREATE INDEX deliveries_held ON deliveries (receiver, group_key) WHERE state = 'held';
CREATE INDEX deliveries_flushed ON deliveries (receiver, group_key, flushed_at) WHERE flushed_at IS NOT NULL;
