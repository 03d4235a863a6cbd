-- The analysed frame behind a camera case's first evidence image, as the detector saw it (nothing
-- drawn): the labelled-data export writes it with the case's object as its label.
CREATE TABLE case_frames (
    case_id     INTEGER PRIMARY KEY REFERENCES cases (id),
    sha256      TEXT    NOT NULL,
    width       INTEGER NOT NULL,
    height      INTEGER NOT NULL,
    captured_at TEXT    NOT NULL
);
