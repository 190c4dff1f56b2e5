-- An admin releases one holder ($2) of a lock ($1): a `release` event naming the acting user
-- ($3), as the plugin's UI writes it. A cooldown counts from it (see foreman_dlm_slot_freed).
-- old, policy and before (sql/holders_before.sql): the lock row ($1), held first like every
-- change of holders, its lease, and its live holders before the change.
WITH {holders_before}, target AS (
    SELECT old.id FROM old WHERE EXISTS (SELECT 1 FROM before WHERE host_id = $2)
), dropped AS (
    DELETE FROM foreman_dlm_lock_holders r USING target
     WHERE r.dlmlock_id = target.id AND r.host_id = $2
), changed AS (
    UPDATE dlmlocks AS l
       SET host_id = (SELECT b.host_id FROM before b WHERE b.host_id <> $2
                       ORDER BY b.acquired_at, b.host_id LIMIT 1),
           updated_at = {now}
      FROM target
     WHERE l.id = target.id
), freed AS (
    INSERT INTO foreman_dlm_last_freed AS f (dlmlock_id, freed_at)
    SELECT target.id, {now} FROM target
        ON CONFLICT (dlmlock_id) DO UPDATE SET freed_at = EXCLUDED.freed_at
), event AS (
    INSERT INTO dlmlock_events (dlmlock_id, event_type, host_id, user_id, created_at, updated_at)
    SELECT target.id, 'release', $2, $3, {now}, {now} FROM target
)
SELECT (SELECT count(*) FROM old) AS locks, (SELECT count(*) FROM target) AS released
