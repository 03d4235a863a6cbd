-- A dwell rule's section as an admin set it through the API (PUT /api/v1/rules/{rule}): `settings`
-- (the JSON of its [rules.<rule>] section) replaces the configuration file's section of that rule from
-- then on, across restarts and SIGHUPs, until deleted (DELETE /api/v1/rules/{rule}).
CREATE TABLE rule_settings (
    rule       TEXT        PRIMARY KEY,
    settings   TEXT        NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL,
    changed_by TEXT        NOT NULL
);
