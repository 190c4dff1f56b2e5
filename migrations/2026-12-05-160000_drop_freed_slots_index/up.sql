-- The events index for cooldowns, where a development build of 0.3.0 built it: every release
-- event wrote it. foreman_dlm_last_freed (the next migration) replaces it. CONCURRENTLY, outside
-- a transaction (metadata.toml): hosts keep writing events meanwhile.
DROP INDEX CONCURRENTLY IF EXISTS foreman_dlm_freed_slots;
