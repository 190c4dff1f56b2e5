DROP FUNCTION foreman_dlm_host_request(text, text, text, integer, text, boolean, timestamp,
                                       integer, integer, jsonb, text, jsonb, jsonb);
DROP FUNCTION foreman_dlm_host_parameter(integer, integer, integer, integer, integer, text);
