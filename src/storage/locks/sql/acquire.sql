WITH host AS (
{host}
), {checkin}, {opt_out}, decision AS (
    -- $4 is the application's own verdict on a parameter value this statement cannot classify
    -- (NULL on the first try). The value lists come from the application's cast rules.
    SELECT CASE
             WHEN $4::boolean IS NOT NULL THEN $4::boolean
             WHEN NOT EXISTS (SELECT 1 FROM opt_out) THEN true
             WHEN (SELECT value FROM opt_out) IS NULL THEN true
             WHEN (SELECT value FROM opt_out) = ANY ({allow}) THEN true
             WHEN (SELECT value FROM opt_out) = ANY ({deny}) THEN false
           END AS allowed
), current_lock AS (
    -- FOR UPDATE waits for a concurrent transfer and then reads the committed holder, so the
    -- decision and the event both see the newest row.
    SELECT l.id, l.host_id, l.enabled
      FROM dlmlocks l
     WHERE l.id = {find_lock}
       AND EXISTS (SELECT 1 FROM host)
       FOR UPDATE
), changed AS (
    UPDATE dlmlocks AS l
       SET host_id = host.id, updated_at = now() AT TIME ZONE 'UTC'
      FROM current_lock c, host, decision d
     WHERE l.id = c.id AND d.allowed AND c.enabled AND (c.host_id IS NULL OR c.host_id = host.id)
 RETURNING l.id, l.name, l.type, l.enabled, l.host_id, l.created_at, l.updated_at
), event AS (
    -- `acquire` only when the holder changes (a re-acquire is a heartbeat), `fail` naming the
    -- holder when refused. An opted-out host leaves no event, as with the plugin.
    INSERT INTO dlmlock_events (dlmlock_id, event_type, host_id, user_id, created_at, updated_at)
    SELECT c.id,
           CASE WHEN ch.id IS NULL THEN 'fail' ELSE 'acquire' END,
           CASE WHEN ch.id IS NULL THEN c.host_id ELSE host.id END,
           {api_admin}, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
      FROM current_lock c CROSS JOIN host CROSS JOIN decision d
      LEFT JOIN changed ch ON ch.id = c.id
     WHERE d.allowed AND (ch.id IS NULL OR c.host_id IS DISTINCT FROM host.id)
)
SELECT host.id AS caller_id, host.name AS caller_name, d.allowed,
       (SELECT value FROM opt_out) AS opt_out_value, c.id AS lock_id, ch.id IS NOT NULL AS done,
       ch.id, ch.name, ch.type AS lock_type, ch.enabled, ch.host_id, ch.created_at, ch.updated_at,
       CASE WHEN ch.id IS NOT NULL THEN host.name END AS holder_name
  FROM host CROSS JOIN decision d
  LEFT JOIN current_lock c ON true
  LEFT JOIN changed ch ON ch.id = c.id
