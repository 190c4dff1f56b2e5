DROP INDEX CONCURRENTLY IF EXISTS foreman_dlm_freed_slots;
