-- Claims up to $2 notifications for this worker: due, unclaimed (or claimed by a worker whose
-- claim ran out: it crashed), for a destination this instance delivers to ($1), and only the
-- oldest undelivered one per destination and host, so that each host's notifications go out in
-- order. SKIP LOCKED: two instances never claim the same row.
UPDATE foreman_dlm_notifications n
   SET claimed_until = now() AT TIME ZONE 'UTC' + make_interval(secs => $3),
       attempts = n.attempts + 1
 WHERE n.id IN (
        SELECT c.id
          FROM foreman_dlm_notifications c
         WHERE c.delivered_at IS NULL AND c.failed_at IS NULL
           AND c.destination = ANY ($1)
           AND c.next_attempt_at <= now() AT TIME ZONE 'UTC'
           AND (c.claimed_until IS NULL OR c.claimed_until < now() AT TIME ZONE 'UTC')
           AND NOT EXISTS (
                 SELECT 1 FROM foreman_dlm_notifications o
                  WHERE o.destination = c.destination
                    AND o.host_id IS NOT DISTINCT FROM c.host_id
                    AND o.id < c.id AND o.delivered_at IS NULL AND o.failed_at IS NULL)
         ORDER BY c.id
         LIMIT $2
           FOR UPDATE SKIP LOCKED)
RETURNING n.id, n.uuid::text AS uuid, n.destination, n.event, n.dlmlock_id, n.lock_name,
          n.host_id, n.host_name, n.user_id, n.user_login, n.occurred_at, n.attempts
