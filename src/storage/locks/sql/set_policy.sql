-- An admin's policy values for one lock ($1). $2/$4/$6/$8/$10/$12 say whether a value is given;
-- one not given keeps what the lock had (NULL: the settings' pattern or the default).
-- lease_seconds 0 stores "no lease", block_on_alerts '' "no gate".
INSERT INTO foreman_dlm_lock_policies AS p
       (dlmlock_id, max_holders, lease_seconds, windows, on_lease_expiry, cooldown_seconds,
        block_on_alerts, created_at, updated_at)
VALUES ($1, CASE WHEN $2 THEN $3::integer END, CASE WHEN $4 THEN $5::integer END,
        CASE WHEN $6 THEN $7::jsonb END, CASE WHEN $8 THEN $9::text END,
        CASE WHEN $10 THEN $11::integer END, CASE WHEN $12 THEN $13::text END,
        now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')
    ON CONFLICT (dlmlock_id) DO UPDATE
   SET max_holders = CASE WHEN $2 THEN EXCLUDED.max_holders ELSE p.max_holders END,
       lease_seconds = CASE WHEN $4 THEN EXCLUDED.lease_seconds ELSE p.lease_seconds END,
       windows = CASE WHEN $6 THEN EXCLUDED.windows ELSE p.windows END,
       on_lease_expiry = CASE WHEN $8 THEN EXCLUDED.on_lease_expiry ELSE p.on_lease_expiry END,
       cooldown_seconds = CASE WHEN $10 THEN EXCLUDED.cooldown_seconds
                               ELSE p.cooldown_seconds END,
       block_on_alerts = CASE WHEN $12 THEN EXCLUDED.block_on_alerts ELSE p.block_on_alerts END,
       updated_at = EXCLUDED.updated_at
