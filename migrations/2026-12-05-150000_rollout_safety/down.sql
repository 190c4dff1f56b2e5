DROP TABLE IF EXISTS foreman_dlm_halts;
ALTER TABLE foreman_dlm_lock_policies
    DROP COLUMN IF EXISTS on_lease_expiry,
    DROP COLUMN IF EXISTS cooldown_seconds,
    DROP COLUMN IF EXISTS block_on_alerts;
