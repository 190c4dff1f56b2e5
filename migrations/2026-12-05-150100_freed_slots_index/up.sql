-- Nothing: an index on dlmlock_events for cooldowns was built here while 0.3.0 was being
-- written. Every host's release had to write it, which cost the benchmark about 5 % of its
-- cycles; foreman_dlm_last_freed (2026-12-05-160100) replaced it, and 2026-12-05-160000 drops
-- it where it was built.
SELECT 1;
