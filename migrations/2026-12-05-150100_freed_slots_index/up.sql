-- When a lock's slot was last freed (released, force-released, lapsed), for its cooldown: read
-- only for locks with one, through this index, so that the hosts' refused polls (`fail` events)
-- are never scanned. Built CONCURRENTLY (outside a transaction, see metadata.toml): the plugin's
-- event table can be large, and every acquire, release and refusal writes to it meanwhile.
CREATE INDEX CONCURRENTLY IF NOT EXISTS foreman_dlm_freed_slots
    ON dlmlock_events (dlmlock_id, created_at)
    WHERE event_type IN ('release', 'expire');
