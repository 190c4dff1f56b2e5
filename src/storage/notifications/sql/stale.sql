-- Holders that went stale (not refreshed for $2 hours) since the last sweep: each stale spell
-- is reported once, and a refresh clears the mark.
WITH stale AS (
    UPDATE foreman_dlm_lock_holders h
       SET stale_notified_at = COALESCE($1::timestamp, now() AT TIME ZONE 'UTC')
     WHERE h.stale_notified_at IS NULL
       AND h.refreshed_at < COALESCE($1::timestamp, now() AT TIME ZONE 'UTC')
                            - make_interval(hours => $2)
 RETURNING h.dlmlock_id, h.host_id
)
SELECT count(*) AS stale,
       COALESCE(sum(foreman_dlm_enqueue('stale', s.dlmlock_id, s.host_id, NULL,
                                        COALESCE($1::timestamp, now() AT TIME ZONE 'UTC'))), 0)
           AS notifications
  FROM stale s
