-- The entry points 0.1.0 called and 0.2.0 no longer does: the lock-id acquire and release (before
-- the host request was one function) and the host request without the host limits. 0.2.0 calls
-- only foreman_dlm_host_request_v2, so a rolling upgrade from it keeps working; from 0.1.0, stop
-- its instances first.
DROP FUNCTION IF EXISTS foreman_dlm_acquire(integer, integer, boolean, integer, integer, jsonb,
                                            timestamp, integer);
DROP FUNCTION IF EXISTS foreman_dlm_release(integer, integer, integer, integer, timestamp,
                                            integer);
DROP FUNCTION IF EXISTS foreman_dlm_host_request(text, text, text, integer, text, boolean,
                                                 timestamp, integer, integer, jsonb, text, jsonb,
                                                 jsonb);
DELETE FROM foreman_dlm_function_sources
 WHERE name IN ('foreman_dlm_acquire', 'foreman_dlm_release', 'foreman_dlm_host_request');
