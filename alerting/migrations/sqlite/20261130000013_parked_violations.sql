-- Violations the case engine could not file for a reason other than an unreachable database (an
-- evidence image that cannot be written: disk full, permissions): kept with their frames, in the
-- form edges send them, and filed again until it works.
CREATE TABLE parked_violations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    source      TEXT    NOT NULL,   -- the camera or sensor
    category    TEXT    NOT NULL,
    message     BLOB    NOT NULL,   -- rules::wire's message
    last_error  TEXT    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 1,
    parked_at   TEXT    NOT NULL,
    retry_at    TEXT    NOT NULL
);
CREATE INDEX parked_violations_due ON parked_violations (retry_at);
