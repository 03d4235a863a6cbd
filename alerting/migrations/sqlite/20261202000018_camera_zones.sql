-- A camera's zones as an admin changed them through the API (PUT /api/v1/cameras/{id}/zones): they
-- replace the configuration file's zones of that camera from then on, across restarts, until deleted.
CREATE TABLE camera_zones (
    camera     TEXT PRIMARY KEY,
    zones      TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    changed_by TEXT NOT NULL
);
