-- foreman-dlm addition: `expire-events` deletes old events in batches ordered by created_at; this
-- index keeps each batch a bounded index range scan instead of a scan of the whole event table.
CREATE INDEX IF NOT EXISTS index_dlmlock_events_on_created_at ON dlmlock_events (created_at);
