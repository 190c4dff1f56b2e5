-- An admin's edit in one statement with its events, as the plugin's after_save callbacks write
-- them: `enable`/`disable` (host = the holder after the change), then `release` (old holder) and
-- `acquire` (new holder) when the holder changes. $2/$4/$6/$8 say whether a field is given.
WITH old AS (
    SELECT id, host_id, enabled FROM dlmlocks WHERE id = $1 FOR UPDATE
), new AS (
    UPDATE dlmlocks AS l
       SET name = CASE WHEN $2 THEN $3 ELSE l.name END,
           type = CASE WHEN $4 THEN $5 ELSE l.type END,
           host_id = CASE WHEN $6 THEN $7 ELSE l.host_id END,
           enabled = CASE WHEN $8 THEN $9 ELSE l.enabled END,
           updated_at = now() AT TIME ZONE 'UTC'
      FROM old
     WHERE l.id = old.id
 RETURNING l.id, l.name, l.type, l.enabled, l.host_id, l.created_at, l.updated_at
), events AS (
    INSERT INTO dlmlock_events (dlmlock_id, event_type, host_id, user_id, created_at, updated_at)
    SELECT e.dlmlock_id, e.event_type, e.host_id, $10, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
      FROM (
        SELECT 1 AS ord, new.id AS dlmlock_id,
               CASE WHEN new.enabled THEN 'enable' ELSE 'disable' END AS event_type, new.host_id
          FROM old JOIN new ON new.id = old.id WHERE old.enabled <> new.enabled
        UNION ALL
        SELECT 2, new.id, 'release', old.host_id
          FROM old JOIN new ON new.id = old.id
         WHERE old.host_id IS NOT NULL AND old.host_id IS DISTINCT FROM new.host_id
        UNION ALL
        SELECT 3, new.id, 'acquire', new.host_id
          FROM old JOIN new ON new.id = old.id
         WHERE new.host_id IS NOT NULL AND old.host_id IS DISTINCT FROM new.host_id
      ) e
     ORDER BY e.ord
)
SELECT new.id, new.name, new.type AS lock_type, new.enabled, new.host_id, new.created_at,
       new.updated_at, (SELECT h.name FROM hosts h WHERE h.id = new.host_id) AS holder_name
  FROM new
