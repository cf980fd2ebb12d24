-- 0003: each rotation attempt gets an id from rotation.begin, which
-- rotation.mark and rotation.end send back, so that an attempt whose lease
-- ran out cannot mark or end a newer one.
ALTER TABLE rotation ADD COLUMN attempt TEXT;
