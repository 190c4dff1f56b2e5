DROP FUNCTION IF EXISTS foreman_dlm_release(integer, integer, integer, integer, timestamp, integer);
DROP FUNCTION IF EXISTS foreman_dlm_acquire(integer, integer, boolean, integer, integer, jsonb, timestamp, integer);
DROP FUNCTION IF EXISTS foreman_dlm_stamp(dlmlocks, timestamp);
DROP FUNCTION IF EXISTS foreman_dlm_expire_holders(dlmlocks, integer[], timestamp);
DROP FUNCTION IF EXISTS foreman_dlm_settle_holders(dlmlocks);
DROP TABLE IF EXISTS foreman_dlm_waiting;
