-- The moments of each case that the statistics (GET /api/v1/stats) count: when it was first filed,
-- first dispatched and finished (closed or voided), and whether an inspector ever sent its work back.
-- They are kept on the case by a trigger on its timeline, so that every writer keeps them, and each
-- has an index: a window's filings, dispatches and closings are read from the cases themselves
-- instead of joining the timeline's events to their cases.
ALTER TABLE cases
    ADD COLUMN filed_at TIMESTAMPTZ,
    ADD COLUMN dispatched_at TIMESTAMPTZ,
    ADD COLUMN finished_at TIMESTAMPTZ,
    ADD COLUMN reopened BOOLEAN NOT NULL DEFAULT FALSE;

UPDATE cases SET filed_at = m.filed, dispatched_at = m.dispatched, finished_at = m.finished, reopened = m.reopened
FROM (SELECT case_id,
             MIN(at) FILTER (WHERE action = 'verify') AS filed,
             MIN(at) FILTER (WHERE action = 'dispatch') AS dispatched,
             MIN(at) FILTER (WHERE action IN ('close', 'void')) AS finished,
             bool_or(action = 'reopen') AS reopened
      FROM case_events WHERE action IN ('verify', 'dispatch', 'close', 'void', 'reopen') GROUP BY case_id) m
WHERE m.case_id = cases.id;

CREATE FUNCTION case_moments() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE cases SET
        filed_at = CASE WHEN NEW.action = 'verify' THEN COALESCE(filed_at, NEW.at) ELSE filed_at END,
        dispatched_at = CASE WHEN NEW.action = 'dispatch' THEN COALESCE(dispatched_at, NEW.at) ELSE dispatched_at END,
        finished_at = CASE WHEN NEW.action IN ('close', 'void') THEN COALESCE(finished_at, NEW.at) ELSE finished_at END,
        reopened = reopened OR NEW.action = 'reopen'
    WHERE id = NEW.case_id;
    RETURN NULL;
END;
$$;

CREATE TRIGGER case_moments AFTER INSERT ON case_events
FOR EACH ROW WHEN (NEW.action IN ('verify', 'dispatch', 'close', 'void', 'reopen'))
EXECUTE FUNCTION case_moments();

CREATE INDEX cases_by_filed ON cases (filed_at) WHERE filed_at IS NOT NULL;
CREATE INDEX cases_by_dispatched ON cases (dispatched_at) WHERE dispatched_at IS NOT NULL;
-- Open at a moment: not finished, or finished after it; reported before it.
CREATE INDEX cases_by_finished ON cases (finished_at, opened_at);
-- The statistics were its only reader.
DROP INDEX case_events_by_action;
