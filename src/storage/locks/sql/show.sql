WITH host AS (
{host}
), {checkin}, shown AS (
    SELECT l.id, l.name, l.type, l.enabled, l.host_id, l.created_at, l.updated_at
      FROM dlmlocks l
     WHERE l.id = {find_lock}
)
SELECT host.id AS caller_id, host.name AS caller_name, true AS allowed,
       NULL::text AS opt_out_value, s.id AS lock_id, s.id IS NOT NULL AS done,
       s.id, s.name, s.type AS lock_type, s.enabled, s.host_id, s.created_at, s.updated_at,
       (SELECT h.name FROM hosts h WHERE h.id = s.host_id) AS holder_name
  FROM host LEFT JOIN shown s ON true
