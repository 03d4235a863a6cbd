-- Where a case is (the camera's or the sensor's position) and the open case it duplicates, if any.
ALTER TABLE cases ADD COLUMN longitude DOUBLE PRECISION;
ALTER TABLE cases ADD COLUMN latitude DOUBLE PRECISION;
ALTER TABLE cases ADD COLUMN duplicate_of BIGINT REFERENCES cases (id);
CREATE INDEX cases_by_category_opened ON cases (category, opened_at);
