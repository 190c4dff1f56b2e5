-- Rollout safety: a lock gives out a slot only while the cluster can afford it.
-- A lock's own values; NULL takes the settings' pattern, else the default ('halt', 0, no gate).
-- block_on_alerts '' is "no gate", even where a pattern gives one.
ALTER TABLE foreman_dlm_lock_policies
    ADD COLUMN on_lease_expiry text CHECK (on_lease_expiry IN ('halt', 'release')),
    ADD COLUMN cooldown_seconds integer CHECK (cooldown_seconds >= 0),
    ADD COLUMN block_on_alerts text;

-- Halted locks: no new holder until an admin resumes. A row without a lock halts every lock,
-- including those created later. host_id: the host whose lease lapsed; user_id: who halted.
CREATE TABLE foreman_dlm_halts (
    id serial PRIMARY KEY,
    dlmlock_id integer UNIQUE REFERENCES dlmlocks (id) ON DELETE CASCADE,
    halted_at timestamp without time zone NOT NULL,
    reason text NOT NULL,
    host_id integer,
    user_id integer
);
CREATE UNIQUE INDEX foreman_dlm_one_fleet_halt ON foreman_dlm_halts ((true))
    WHERE dlmlock_id IS NULL;
