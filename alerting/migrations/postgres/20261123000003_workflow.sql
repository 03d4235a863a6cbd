-- The workflow: urgency and deadline of each case, its flags, and the timeline of every step.
ALTER TABLE cases ADD COLUMN urgency TEXT NOT NULL DEFAULT 'normal';
ALTER TABLE cases ADD COLUMN deadline_at TIMESTAMPTZ;                    -- working-time deadline; NULL until filed
ALTER TABLE cases ADD COLUMN supervised BOOLEAN NOT NULL DEFAULT FALSE;  -- went overdue (督办); stays so
ALTER TABLE cases ADD COLUMN extension_requested BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX cases_by_deadline ON cases (supervised, deadline_at);
CREATE INDEX cases_by_status ON cases (status, id);

-- Who did what to a case, when, with their note: one row per accepted action (and the report itself).
CREATE TABLE case_events (
    id          BIGSERIAL   PRIMARY KEY,
    case_id     BIGINT      NOT NULL REFERENCES cases (id),
    at          TIMESTAMPTZ NOT NULL,
    actor       TEXT        NOT NULL,   -- token name, or the source that reported the case
    role        TEXT        NOT NULL,
    action      TEXT        NOT NULL,   -- report, verify, dispatch, ...
    from_status TEXT        NOT NULL,
    to_status   TEXT        NOT NULL,
    note        TEXT        NOT NULL DEFAULT ''
);
CREATE INDEX case_events_by_case ON case_events (case_id, id);
