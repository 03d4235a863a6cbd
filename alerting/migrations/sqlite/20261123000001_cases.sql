-- Grid cases: one row per problem at a place (camera, zone, category).
CREATE TABLE cases (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    code          TEXT    NOT NULL,            -- taxonomy code, e.g. 0505
    category      TEXT    NOT NULL,            -- illegal_parking, litter, illegal_construction
    camera        TEXT    NOT NULL,
    zone          TEXT    NOT NULL,
    grid          TEXT    NOT NULL,            -- 15-digit grid code
    status        TEXT    NOT NULL,            -- workflow state
    source        TEXT    NOT NULL,            -- camera, sensor, citizen
    object_count  INTEGER NOT NULL DEFAULT 0,  -- distinct objects (vehicles, litter) added to the case
    first_seen_at TEXT    NOT NULL,
    confirmed_at  TEXT    NOT NULL,
    opened_at     TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL
);
CREATE INDEX cases_by_place ON cases (camera, zone, category, status);
CREATE INDEX cases_by_opened ON cases (opened_at);

-- The objects of a case, in the order they were added.
CREATE TABLE case_objects (
    case_id       INTEGER NOT NULL REFERENCES cases (id),
    idx           INTEGER NOT NULL,
    class         TEXT    NOT NULL,
    score         REAL    NOT NULL,
    x1            REAL    NOT NULL,
    y1            REAL    NOT NULL,
    x2            REAL    NOT NULL,
    y2            REAL    NOT NULL,
    first_seen_at TEXT    NOT NULL,
    confirmed_at  TEXT    NOT NULL,
    PRIMARY KEY (case_id, idx)
);

-- Evidence images, content-addressed files under data_dir/evidence, served only through their case.
CREATE TABLE evidence (
    case_id     INTEGER NOT NULL REFERENCES cases (id),
    idx         INTEGER NOT NULL,
    sha256      TEXT    NOT NULL,
    width       INTEGER NOT NULL,
    height      INTEGER NOT NULL,
    captured_at TEXT    NOT NULL,
    PRIMARY KEY (case_id, idx)
);
