WITH host AS (
{host}
), {checkin}, current_lock AS (
    SELECT l.id, l.host_id, l.enabled
      FROM dlmlocks l
     WHERE l.id = {find_lock}
       AND EXISTS (SELECT 1 FROM host)
       FOR UPDATE
), changed AS (
    -- Releasing a free lock succeeds, as with the plugin.
    UPDATE dlmlocks AS l
       SET host_id = NULL, updated_at = now() AT TIME ZONE 'UTC'
      FROM current_lock c, host
     WHERE l.id = c.id AND c.enabled AND (c.host_id IS NULL OR c.host_id = host.id)
 RETURNING l.id, l.name, l.type, l.enabled, l.host_id, l.created_at, l.updated_at
), event AS (
    INSERT INTO dlmlock_events (dlmlock_id, event_type, host_id, user_id, created_at, updated_at)
    SELECT c.id, CASE WHEN ch.id IS NULL THEN 'fail' ELSE 'release' END, c.host_id,
           {api_admin}, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
      FROM current_lock c LEFT JOIN changed ch ON ch.id = c.id
     WHERE ch.id IS NULL OR c.host_id IS NOT NULL
)
SELECT host.id AS caller_id, host.name AS caller_name, true AS allowed,
       NULL::text AS opt_out_value, c.id AS lock_id, ch.id IS NOT NULL AS done,
       ch.id, ch.name, ch.type AS lock_type, ch.enabled, ch.host_id, ch.created_at, ch.updated_at,
       NULL::varchar AS holder_name
  FROM host
  LEFT JOIN current_lock c ON true
  LEFT JOIN changed ch ON ch.id = c.id
