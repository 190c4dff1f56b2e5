-- The current definition of foreman_dlm_granted: `migrate` applies it whenever this file changes.
CREATE OR REPLACE FUNCTION public.foreman_dlm_granted(lock_id integer, caller integer, acting_user integer, at timestamp without time zone)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
BEGIN
    -- A new holder: the plugin's `acquire` event, and the host stops waiting. The host
    -- request's short path writes the same rows itself (foreman_dlm_host_request_v3): change
    -- both.
    PERFORM foreman_dlm_log_event(lock_id, 'acquire', caller, acting_user, at);
    DELETE FROM foreman_dlm_waiting w WHERE w.dlmlock_id = lock_id AND w.host_id = caller;
END
$function$;
