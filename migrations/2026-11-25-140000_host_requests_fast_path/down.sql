DROP FUNCTION foreman_dlm_acquire(integer, integer, boolean, integer, integer, jsonb, timestamp,
                                  integer);
DROP FUNCTION foreman_dlm_release(integer, integer, integer, integer, timestamp, integer);
ALTER FUNCTION foreman_dlm_acquire_held(integer, integer, boolean, integer, integer, jsonb,
                                        timestamp, integer)
    RENAME TO foreman_dlm_acquire;
ALTER FUNCTION foreman_dlm_release_held(integer, integer, integer, integer, timestamp, integer)
    RENAME TO foreman_dlm_release;
