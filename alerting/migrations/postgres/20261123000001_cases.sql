-- Grid cases: one row per problem at a place (camera, zone, category).
CREATE TABLE cases (
    id            BIGSERIAL   PRIMARY KEY,
    code          TEXT        NOT NULL,            -- taxonomy code, e.g. 0505
    category      TEXT        NOT NULL,            -- illegal_parking, litter, illegal_construction
    camera        TEXT        NOT NULL,
    zone          TEXT        NOT NULL,
    grid          TEXT        NOT NULL,            -- 15-digit grid code
    status        TEXT        NOT NULL,            -- workflow state
    source        TEXT        NOT NULL,            -- camera, sensor, citizen
    object_count  BIGINT      NOT NULL DEFAULT 0,  -- distinct objects (vehicles, litter) added to the case
    first_seen_at TIMESTAMPTZ NOT NULL,
    confirmed_at  TIMESTAMPTZ NOT NULL,
    opened_at     TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX cases_by_place ON cases (camera, zone, category, status);
CREATE INDEX cases_by_opened ON cases (opened_at);

-- The objects of a case, in the order they were added.
CREATE TABLE case_objects (
    case_id       BIGINT           NOT NULL REFERENCES cases (id),
    idx           BIGINT           NOT NULL,
    class         TEXT             NOT NULL,
    score         DOUBLE PRECISION NOT NULL,
    x1            DOUBLE PRECISION NOT NULL,
    y1            DOUBLE PRECISION NOT NULL,
    x2            DOUBLE PRECISION NOT NULL,
    y2            DOUBLE PRECISION NOT NULL,
    first_seen_at TIMESTAMPTZ      NOT NULL,
    confirmed_at  TIMESTAMPTZ      NOT NULL,
    PRIMARY KEY (case_id, idx)
);

-- Evidence images, content-addressed files under data_dir/evidence, served only through their case.
CREATE TABLE evidence (
    case_id     BIGINT      NOT NULL REFERENCES cases (id),
    idx         BIGINT      NOT NULL,
    sha256      TEXT        NOT NULL,
    width       BIGINT      NOT NULL,
    height      BIGINT      NOT NULL,
    captured_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (case_id, idx)
);
