-- Violations relayed from edge nodes, by their stable id: a copy delivered again (a lost
-- acknowledgement, a center killed before it acknowledged) finds its case here and files nothing.
CREATE TABLE filed_violations (
  id       TEXT PRIMARY KEY,
  case_id  BIGINT NOT NULL REFERENCES cases (id),
  filed_at TIMESTAMPTZ NOT NULL
);
