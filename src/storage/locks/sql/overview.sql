-- The whole locks table in one row, for the metrics gauges: how many locks, how many disabled,
-- halted (every lock, under a fleet-wide halt), how many have holders, all slots taken, or a
-- stale holder (not refreshed for $2 hours), and
-- the $3 locks with the most holders by name. What the other held locks hold is one sum, so
-- that the answer stays small however many locks a site (or a hostile host) has. Free locks are
-- not visited one by one.
WITH held AS (
    SELECT l.name, l.enabled, h.live, h.live >= {max_holders} AS all_taken, h.stale > 0 AS stale
      FROM dlmlocks l
      LEFT JOIN foreman_dlm_lock_policies p ON p.dlmlock_id = l.id
     CROSS JOIN LATERAL (
           SELECT count(*) AS live,
                  count(*) FILTER (WHERE x.refreshed_at < {now} - make_interval(hours => $2))
                      AS stale
             FROM foreman_dlm_holders(l.id, l.host_id, l.updated_at, {lease_seconds}) x
            WHERE x.expires_at IS NULL OR x.expires_at > {now}) h
     WHERE l.host_id IS NOT NULL
),
live AS (
    SELECT * FROM held WHERE live > 0
),
top AS (
    SELECT name, live FROM live ORDER BY live DESC, name LIMIT $3
)
SELECT (SELECT count(*) FROM dlmlocks) AS locks,
       (SELECT count(*) FROM dlmlocks WHERE NOT enabled) AS disabled,
       (SELECT count(*) FROM live) AS held,
       (SELECT count(*) FROM live WHERE enabled) AS enabled_held,
       (SELECT count(*) FROM live WHERE all_taken) AS full_locks,
       (SELECT count(*) FROM live WHERE stale) AS stale,
       (SELECT COALESCE(sum(live), 0) FROM live)::bigint AS holders,
       (SELECT CASE WHEN EXISTS (SELECT 1 FROM foreman_dlm_halts WHERE dlmlock_id IS NULL)
                    THEN (SELECT count(*) FROM dlmlocks)
                    ELSE (SELECT count(*) FROM foreman_dlm_halts) END) AS halted,
       (SELECT COALESCE(json_agg(json_build_object('name', name, 'holders', live)
                                 ORDER BY live DESC, name), '[]')::text
          FROM top) AS top
