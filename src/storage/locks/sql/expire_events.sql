-- Up to $2 events created more than $1 days ago. `= ANY(ARRAY(…))` makes the batch an init plan:
-- the delete then probes the primary key for exactly those ids, where `IN (subquery)` may
-- hash-join against a scan of the whole table.
DELETE FROM dlmlock_events WHERE id = ANY(ARRAY(
    SELECT id FROM dlmlock_events
     WHERE created_at < now() AT TIME ZONE 'UTC' - make_interval(days => $1)
     ORDER BY created_at LIMIT $2))
