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
), target AS (
    -- The lock and the policy in force for it: its own values, else the settings' patterns.
    SELECT l.id, l.name, l.type, l.created_at, {max_holders} AS max_holders,
           {lease_seconds} AS lease_seconds, {windows} AS windows
      FROM dlmlocks l LEFT JOIN foreman_dlm_lock_policies p ON p.dlmlock_id = l.id
     WHERE l.id = {find_lock}
       AND EXISTS (SELECT 1 FROM host)
)
-- foreman_dlm_acquire locks the lock row, decides, and changes the holders with their events
-- (see the migration `host_lock_requests`).
SELECT host.id AS caller_id, host.name AS caller_name, d.allowed,
       (SELECT value FROM opt_out) AS opt_out_value, t.id AS lock_id,
       COALESCE(a.outcome IN ('granted', 'refreshed'), false) AS done, a.outcome,
       a.next_window_at, t.id, t.name, t.type AS lock_type, a.enabled, t.created_at,
       a.updated_at, t.max_holders, t.lease_seconds, t.windows::text AS windows, a.holders
  FROM host CROSS JOIN decision d
  LEFT JOIN target t ON true
  LEFT JOIN LATERAL foreman_dlm_acquire(t.id, host.id, d.allowed, t.max_holders,
                                        t.lease_seconds, t.windows, {now}, {api_admin}) a
         ON true
