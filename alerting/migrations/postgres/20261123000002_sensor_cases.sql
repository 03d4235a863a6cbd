-- Cases from sensors: the device that reported (cameras leave it empty) and what it reported.
ALTER TABLE cases ADD COLUMN device TEXT NOT NULL DEFAULT '';
ALTER TABLE cases ADD COLUMN detail TEXT;                 -- JSON: the rule, the reading, the location
CREATE INDEX cases_by_device ON cases (device, category, status);
