-- A failed attempt: try again after $3 seconds, unless the notification is older than $4
-- seconds; then it is kept, marked failed. Returns whether it failed for good.
UPDATE foreman_dlm_notifications
   SET claimed_until = NULL,
       last_error = $2,
       next_attempt_at = now() AT TIME ZONE 'UTC' + make_interval(secs => $3),
       failed_at = CASE WHEN $5 OR occurred_at < now() AT TIME ZONE 'UTC' - make_interval(secs => $4)
                        THEN now() AT TIME ZONE 'UTC' END
 WHERE id = $1
RETURNING failed_at IS NOT NULL AS gave_up
