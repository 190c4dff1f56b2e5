-- A lock and its events in one statement, returning the lock as it was.
WITH gone AS (
    DELETE FROM dlmlocks WHERE id = $1
 RETURNING id, name, type, enabled, host_id, created_at, updated_at
), events AS (
    DELETE FROM dlmlock_events WHERE dlmlock_id IN (SELECT id FROM gone)
)
SELECT gone.id, gone.name, gone.type AS lock_type, gone.enabled, gone.host_id, gone.created_at,
       gone.updated_at, (SELECT h.name FROM hosts h WHERE h.id = gone.host_id) AS holder_name
  FROM gone
