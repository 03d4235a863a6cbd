-- The analysed frame behind a camera case's first evidence image, as the detector saw it (nothing
-- drawn): the labelled-data export writes it with the case's object as its label.
CREATE TABLE case_frames (
    case_id     BIGINT      PRIMARY KEY REFERENCES cases (id),
    sha256      TEXT        NOT NULL,
    width       BIGINT      NOT NULL,
    height      BIGINT      NOT NULL,
    captured_at TIMESTAMPTZ NOT NULL
);
