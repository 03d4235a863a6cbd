-- Whistles (吹哨报到): departments called to a case, each with a time by which it must report in.
CREATE TABLE whistles (
    id        BIGSERIAL PRIMARY KEY,
    case_id   BIGINT NOT NULL REFERENCES cases (id),
    level     TEXT NOT NULL,              -- ordinary, major, urgent
    called_by TEXT NOT NULL,
    note      TEXT NOT NULL DEFAULT '',
    called_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX whistles_by_case ON whistles (case_id, id);

CREATE TABLE whistle_calls (
    whistle_id  BIGINT NOT NULL REFERENCES whistles (id),
    department  TEXT NOT NULL,
    due_at      TIMESTAMPTZ NOT NULL,
    reported_at TIMESTAMPTZ,                       -- NULL until the department reports in
    reported_by TEXT,
    note        TEXT NOT NULL DEFAULT '',
    missed      BOOLEAN NOT NULL DEFAULT FALSE, -- the due time passed without a report-in (escalated)
    PRIMARY KEY (whistle_id, department)
);
CREATE INDEX whistle_calls_by_due ON whistle_calls (missed, due_at);
