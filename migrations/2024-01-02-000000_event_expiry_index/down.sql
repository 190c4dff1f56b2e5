DROP INDEX IF EXISTS index_dlmlock_events_on_created_at;
