-- Silences: time-bounded matchers under which routed entries are recorded but not sent.
CREATE TABLE silences (
    id         BIGSERIAL   PRIMARY KEY,
    matchers   TEXT        NOT NULL,        -- JSON: categories, grids, cameras, urgencies, actions
    starts_at  TIMESTAMPTZ NOT NULL,
    ends_at    TIMESTAMPTZ NOT NULL,
    comment    TEXT        NOT NULL,
    created_by TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX silences_by_end ON silences (ends_at);

-- Every write through the API that is not a case action (those are in case_events): who, what, when.
CREATE TABLE audit_log (
    id     BIGSERIAL   PRIMARY KEY,
    at     TIMESTAMPTZ NOT NULL,
    actor  TEXT        NOT NULL,
    role   TEXT        NOT NULL,
    action TEXT        NOT NULL,            -- silence.create, silence.expire, delivery.retry, ...
    target TEXT        NOT NULL,
    detail TEXT        NOT NULL DEFAULT ''
);
