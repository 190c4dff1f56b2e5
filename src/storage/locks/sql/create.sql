-- A new lock, and the holder's `acquire` event when it is created held (a host's first acquire
-- of a name). The unique index on names turns a concurrent creator's twin into no row at all,
-- names the index leaves out (duplicated before foreman-dlm) exist already, so NOT EXISTS stops
-- them.
WITH created AS (
    INSERT INTO dlmlocks (name, type, enabled, host_id, created_at, updated_at)
    SELECT $1, $2, $3, $4, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
     WHERE NOT EXISTS (SELECT 1 FROM dlmlocks WHERE name = $1)
        ON CONFLICT DO NOTHING
 RETURNING id, name, type, enabled, host_id, created_at, updated_at
), event AS (
    INSERT INTO dlmlock_events (dlmlock_id, event_type, host_id, user_id, created_at, updated_at)
    SELECT id, 'acquire', host_id, {api_admin}, created_at, created_at
      FROM created WHERE host_id IS NOT NULL
)
SELECT c.id, c.name, c.type AS lock_type, c.enabled, c.host_id, c.created_at, c.updated_at,
       (SELECT h.name FROM hosts h WHERE h.id = c.host_id) AS holder_name
  FROM created c
