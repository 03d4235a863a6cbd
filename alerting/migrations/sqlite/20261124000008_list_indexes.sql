-- The case list's filters, each in the list's order (newest first), so that a page is read off an
-- index instead of sorted (measured by benches/case_list.rs at 1,000,000 cases).
CREATE INDEX cases_by_category_id ON cases (category, id);
CREATE INDEX cases_by_camera_id ON cases (camera, id);
CREATE INDEX cases_by_grid_id ON cases (grid, id);
