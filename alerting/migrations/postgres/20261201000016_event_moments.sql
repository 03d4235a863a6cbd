-- The statistics (GET /api/v1/stats) find the cases closed or voided since a moment by their events.
CREATE INDEX case_events_by_action ON case_events (action, at);
