WITH host AS (
{host}
), {checkin}, target AS (
    SELECT l.id, l.name, l.type, l.created_at, {max_holders} AS max_holders,
           {lease_seconds} AS lease_seconds, {windows} AS windows
      FROM dlmlocks l LEFT JOIN foreman_dlm_lock_policies p ON p.dlmlock_id = l.id
     WHERE l.id = {find_lock}
       AND EXISTS (SELECT 1 FROM host)
)
-- foreman_dlm_release locks the lock row, decides, and changes the holders with their events
-- (see the migration `host_lock_requests`).
SELECT host.id AS caller_id, host.name AS caller_name, true AS allowed,
       NULL::text AS opt_out_value, t.id AS lock_id,
       COALESCE(r.outcome IN ('released', 'not_held'), false) AS done, r.outcome,
       NULL::timestamp AS next_window_at, t.id, t.name, t.type AS lock_type, r.enabled,
       t.created_at, r.updated_at, t.max_holders, t.lease_seconds, t.windows::text AS windows,
       r.holders
  FROM host
  LEFT JOIN target t ON true
  LEFT JOIN LATERAL foreman_dlm_release(t.id, host.id, t.max_holders, t.lease_seconds, {now},
                                        {api_admin}) r
         ON true
