-- An admin's edit in one statement with its events, as the plugin's after_save callbacks write
-- them: `enable`/`disable` (host = the holder after the change), then `release` for each holder
-- that loses its slot (oldest first) and `acquire` for a new holder. $2/$4/$6/$8 say whether a
-- field is given; a given host_id (or null) replaces all holders, and a cooldown counts from
-- the holders it drops (see foreman_dlm_slot_freed).
-- old, policy and before (sql/holders_before.sql): the lock row ($1), held first like every
-- change of holders, its lease, and its live holders before the change.
WITH {holders_before}, new AS (
    UPDATE dlmlocks AS l
       SET name = CASE WHEN $2 THEN $3 ELSE l.name END,
           type = CASE WHEN $4 THEN $5 ELSE l.type END,
           host_id = CASE WHEN $6 THEN $7 ELSE l.host_id END,
           enabled = CASE WHEN $8 THEN $9 ELSE l.enabled END,
           updated_at = {now}
      FROM old
     WHERE l.id = old.id
 RETURNING l.id, l.host_id, l.enabled
), dropped AS (
    DELETE FROM foreman_dlm_lock_holders r
     USING old
     WHERE $6 AND r.dlmlock_id = old.id AND r.host_id IS DISTINCT FROM $7
), added AS (
    INSERT INTO foreman_dlm_lock_holders (dlmlock_id, host_id, acquired_at, refreshed_at)
    SELECT old.id, $7, {now}, {now}
      FROM old
     WHERE $6 AND $7 IS NOT NULL AND NOT EXISTS (SELECT 1 FROM before WHERE host_id = $7)
        ON CONFLICT (dlmlock_id, host_id)
        DO UPDATE SET acquired_at = EXCLUDED.acquired_at, refreshed_at = EXCLUDED.refreshed_at
), freed AS (
    INSERT INTO foreman_dlm_last_freed AS f (dlmlock_id, freed_at)
    SELECT old.id, {now} FROM old
     WHERE $6 AND EXISTS (SELECT 1 FROM before WHERE before.host_id IS DISTINCT FROM $7)
        ON CONFLICT (dlmlock_id) DO UPDATE SET freed_at = EXCLUDED.freed_at
), events AS (
    INSERT INTO dlmlock_events (dlmlock_id, event_type, host_id, user_id, created_at, updated_at)
    SELECT old.id, e.event_type, e.host_id, $10, {now}, {now}
      FROM old CROSS JOIN LATERAL (
        SELECT 1 AS ord, NULL::timestamp AS at,
               CASE WHEN new.enabled THEN 'enable' ELSE 'disable' END AS event_type, new.host_id
          FROM new WHERE new.enabled <> old.enabled
        UNION ALL
        SELECT 2, before.acquired_at, 'release', before.host_id
          FROM before WHERE $6 AND before.host_id IS DISTINCT FROM $7
        UNION ALL
        SELECT 3, NULL, 'acquire', $7
         WHERE $6 AND $7 IS NOT NULL AND NOT EXISTS (SELECT 1 FROM before WHERE host_id = $7)
      ) e
     ORDER BY e.ord, e.at, e.host_id
)
SELECT new.id FROM new
