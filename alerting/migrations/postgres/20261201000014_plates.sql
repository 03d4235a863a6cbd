-- Licence plates of parking cases: the best reading so far, its score and the evidence image of its crop
-- (erased, with a timeline step, once the case is finished and older than [plates] retention_days).
ALTER TABLE cases ADD COLUMN plate TEXT;
ALTER TABLE cases ADD COLUMN plate_score DOUBLE PRECISION;
ALTER TABLE cases ADD COLUMN plate_evidence BIGINT;
CREATE INDEX cases_plate ON cases (plate);
