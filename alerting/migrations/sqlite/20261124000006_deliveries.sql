-- Notifications: every timeline entry is routed once (routed), into one delivery per receiver: the
-- outbox, written in one transaction with the routing mark, sent and retried until delivered or dead.
ALTER TABLE case_events ADD COLUMN routed BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE case_events SET routed = TRUE;   -- what happened before notifications existed is not sent
CREATE INDEX case_events_unrouted ON case_events (routed, id);

CREATE TABLE deliveries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,   -- the delivery id receivers deduplicate by
    event_id     INTEGER NOT NULL REFERENCES case_events (id),
    case_id      INTEGER NOT NULL REFERENCES cases (id),
    receiver     TEXT    NOT NULL,
    body         TEXT    NOT NULL,                     -- the exact JSON sent (and signed) on every attempt
    state        TEXT    NOT NULL DEFAULT 'pending',   -- pending | delivered | dead
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      TEXT    NOT NULL,
    last_error   TEXT    NOT NULL DEFAULT '',
    created_at   TEXT    NOT NULL,
    delivered_at TEXT,
    UNIQUE (event_id, receiver)
);
CREATE INDEX deliveries_due ON deliveries (state, next_at);
