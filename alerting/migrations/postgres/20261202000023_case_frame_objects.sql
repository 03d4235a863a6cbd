-- Every object the detector found in a camera case's analysed frame (a JSON list of {class, bbox}),
-- so that the labelled-data export labels all of them, not only the case's object. NULL for frames
-- kept before: their export labels the case's object alone.
ALTER TABLE case_frames ADD COLUMN objects TEXT;
