WITH host AS (
{host}
), {checkin}
SELECT host.id AS caller_id, host.name AS caller_name, true AS allowed,
       NULL::text AS opt_out_value, l.id AS lock_id, l.id IS NOT NULL AS done,
       NULL::text AS outcome, NULL::timestamp AS next_window_at, {lock_columns}
  FROM host
  LEFT JOIN (dlmlocks l LEFT JOIN foreman_dlm_lock_policies p ON p.dlmlock_id = l.id)
         ON l.id = {find_lock}
