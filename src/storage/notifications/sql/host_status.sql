-- The plugin's "Distributed Lock" host status for host $1: 1 (stale) when one of its holder
-- slots has not been refreshed for $2 hours, else 0; the host's global status is raised to
-- ERROR (2) while stale. Lowering it needs Foreman's status classes: its next status refresh
-- does that.
WITH status AS (
    SELECT CASE WHEN EXISTS (
                  SELECT 1 FROM foreman_dlm_lock_holders h
                   WHERE h.host_id = $1
                     AND h.refreshed_at < COALESCE($3::timestamp, now() AT TIME ZONE 'UTC')
                                          - make_interval(hours => $2))
                OR EXISTS (
                  SELECT 1 FROM dlmlocks l
                   WHERE l.host_id = $1
                     AND l.updated_at < COALESCE($3::timestamp, now() AT TIME ZONE 'UTC')
                                        - make_interval(hours => $2))
           THEN 1 ELSE 0 END AS value
), written AS (
    INSERT INTO host_status (type, status, host_id, reported_at)
    SELECT 'HostStatus::DlmlockStatus', status.value, $1,
           COALESCE($3::timestamp, now() AT TIME ZONE 'UTC')
      FROM status
     WHERE EXISTS (SELECT 1 FROM hosts WHERE id = $1)
        ON CONFLICT (type, host_id)
        DO UPDATE SET status = EXCLUDED.status, reported_at = EXCLUDED.reported_at
 RETURNING status
), raised AS (
    UPDATE hosts SET global_status = GREATEST(global_status, 2)
     WHERE id = $1 AND EXISTS (SELECT 1 FROM written WHERE status = 1)
)
SELECT (SELECT status FROM written) AS status
