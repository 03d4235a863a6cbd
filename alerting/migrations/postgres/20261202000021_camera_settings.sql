-- A camera as an admin added, changed or removed it through the API (POST, PUT and DELETE
-- /api/v1/cameras): `settings` (the JSON of its [[cameras]] entry, zones included) replaces the
-- configuration file's camera of that id, or adds one; NULL keeps it removed. The file seeds the
-- cameras; these rows win over it, across restarts and SIGHUPs.
CREATE TABLE camera_settings (
    camera     TEXT        PRIMARY KEY,
    settings   TEXT,
    changed_at TIMESTAMPTZ NOT NULL,
    changed_by TEXT        NOT NULL
);
