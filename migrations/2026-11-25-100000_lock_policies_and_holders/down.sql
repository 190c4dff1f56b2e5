DROP FUNCTION IF EXISTS foreman_dlm_next_window(jsonb, timestamp);
DROP FUNCTION IF EXISTS foreman_dlm_window_open(jsonb, timestamp);
DROP FUNCTION IF EXISTS foreman_dlm_holders_json(integer, integer, timestamp, integer, timestamp);
DROP FUNCTION IF EXISTS foreman_dlm_holders(integer, integer, timestamp, integer);
DROP TABLE IF EXISTS foreman_dlm_lock_holders;
DROP TABLE IF EXISTS foreman_dlm_lock_policies;
