-- The working time a case had left when it was suspended, restored when it is resumed (seconds;
-- NULL while its deadline clock runs).
ALTER TABLE cases ADD COLUMN deadline_left_s INTEGER;
