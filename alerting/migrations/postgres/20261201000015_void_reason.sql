-- Why a case was voided (false_detection, not_a_violation, duplicate, other): the quality figures
-- per camera zone count operators' decisions.
ALTER TABLE cases ADD COLUMN void_reason TEXT;
