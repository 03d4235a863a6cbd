-- Acknowledgement and ownership: the person who acknowledged a case owns it until they hand it on;
-- a case nobody acknowledged escalates step by step (escalation_level) from alerted_at (its opening,
-- or its last hand-over).
ALTER TABLE cases ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE cases ADD COLUMN acknowledged_at TIMESTAMPTZ;
ALTER TABLE cases ADD COLUMN alerted_at TIMESTAMPTZ;
ALTER TABLE cases ADD COLUMN escalation_level BIGINT NOT NULL DEFAULT 0;
-- The escalation pass reads open cases nobody acknowledged: only those are in this index.
CREATE INDEX cases_awaiting_acknowledgement ON cases (id)
  WHERE acknowledged_at IS NULL AND status NOT IN ('closed', 'evaluated', 'voided');
