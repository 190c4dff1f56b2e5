-- The start of an admin statement that changes a lock's holders (update.sql,
-- release_holder.sql): the lock row ($1), locked first like every change of holders; its lease;
-- its live holders before the change.
old AS (
    SELECT l.id, l.name, l.host_id, l.enabled, l.updated_at
      FROM dlmlocks l WHERE l.id = $1 FOR UPDATE
), policy AS (
    SELECT {lease_seconds} AS lease_seconds
      FROM old l LEFT JOIN foreman_dlm_lock_policies p ON p.dlmlock_id = l.id
), before AS (
    SELECT h.host_id, h.acquired_at
      FROM old l CROSS JOIN policy
     CROSS JOIN LATERAL foreman_dlm_holders(l.id, l.host_id, l.updated_at, policy.lease_seconds) h
     WHERE h.expires_at IS NULL OR h.expires_at > {now}
)
