-- Frees the slots of holders whose lease has run out, on locks nobody asks for, and halts the
-- locks whose policy says so (see foreman_dlm_lapse_holders); a cooldown counts from the sweep
-- (foreman_dlm_slot_freed). One instance of an HA pair sweeps at a time (the
-- transaction-scoped advisory lock); SKIP LOCKED leaves a lock that a request holds right now to
-- that request, which evicts expired holders itself.
WITH turn AS MATERIALIZED (
    SELECT pg_try_advisory_xact_lock({sweep_key}) AS mine
), due AS (
    SELECT l.id, l.host_id, l.updated_at, {lease_seconds} AS lease_seconds,
           {on_lease_expiry} AS on_lease_expiry
      FROM dlmlocks l LEFT JOIN foreman_dlm_lock_policies p ON p.dlmlock_id = l.id
     WHERE (SELECT mine FROM turn) AND l.host_id IS NOT NULL AND {lease_seconds} IS NOT NULL
       AND EXISTS (SELECT 1
                     FROM foreman_dlm_holders(l.id, l.host_id, l.updated_at, {lease_seconds}) h
                    WHERE h.expires_at <= {now})
     ORDER BY l.id
     LIMIT $2
       FOR UPDATE OF l SKIP LOCKED
), holders AS (
    SELECT due.id AS dlmlock_id, h.host_id, h.acquired_at, h.expires_at <= {now} AS expired
      FROM due
     CROSS JOIN LATERAL foreman_dlm_holders(due.id, due.host_id, due.updated_at, due.lease_seconds) h
), dropped AS (
    DELETE FROM foreman_dlm_lock_holders r
     USING holders e
     WHERE e.expired AND r.dlmlock_id = e.dlmlock_id AND r.host_id = e.host_id
), changed AS (
    UPDATE dlmlocks AS l
       SET host_id = (SELECT k.host_id FROM holders k
                       WHERE k.dlmlock_id = l.id AND NOT k.expired
                       ORDER BY k.acquired_at, k.host_id LIMIT 1),
           updated_at = {now}
     WHERE l.id IN (SELECT dlmlock_id FROM holders WHERE expired)
), freed AS (
    INSERT INTO foreman_dlm_last_freed AS f (dlmlock_id, freed_at)
    SELECT DISTINCT e.dlmlock_id, {now} FROM holders e WHERE e.expired
        ON CONFLICT (dlmlock_id) DO UPDATE SET freed_at = EXCLUDED.freed_at
), lapsed AS (
    SELECT e.dlmlock_id,
           array_agg(e.host_id ORDER BY e.acquired_at, e.host_id) AS hosts
      FROM holders e JOIN due ON due.id = e.dlmlock_id
     WHERE e.expired AND due.on_lease_expiry = 'halt'
     GROUP BY e.dlmlock_id
), halted AS (
    INSERT INTO foreman_dlm_halts (dlmlock_id, halted_at, reason, host_id, user_id)
    SELECT x.dlmlock_id, {now}, foreman_dlm_lapse_reason(x.hosts), x.hosts[1], NULL
      FROM lapsed x
        ON CONFLICT DO NOTHING
    RETURNING dlmlock_id, host_id
), events AS (
    INSERT INTO dlmlock_events (dlmlock_id, event_type, host_id, user_id, created_at, updated_at)
    SELECT x.dlmlock_id, x.event_type, x.host_id, NULL, {now}, {now}
      FROM (SELECT e.dlmlock_id, 1 AS ord, e.acquired_at, 'expire' AS event_type, e.host_id
              FROM holders e WHERE e.expired
            UNION ALL
            SELECT h.dlmlock_id, 2, NULL, 'halt', h.host_id FROM halted h) x
     ORDER BY x.dlmlock_id, x.ord, x.acquired_at, x.host_id
)
SELECT (SELECT mine FROM turn) AS swept, count(*) AS expired FROM holders WHERE expired
