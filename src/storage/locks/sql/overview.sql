-- The whole locks table in one row, for the metrics gauges: how many locks, how many disabled,
-- and every lock that has holders (how many, whether all slots are taken, whether one is stale:
-- not refreshed for $2 hours). Free locks are not visited one by one.
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
)
SELECT (SELECT count(*) FROM dlmlocks) AS locks,
       (SELECT count(*) FROM dlmlocks WHERE NOT enabled) AS disabled,
       (SELECT COALESCE(json_agg(json_build_object('name', name, 'enabled', enabled,
                                                   'holders', live, 'full', all_taken,
                                                   'stale', stale) ORDER BY name), '[]')::text
          FROM held WHERE live > 0) AS held
