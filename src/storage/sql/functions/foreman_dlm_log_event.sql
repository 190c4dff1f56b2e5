-- The current definition of foreman_dlm_log_event: `migrate` applies it whenever this file changes.
CREATE OR REPLACE FUNCTION public.foreman_dlm_log_event(lock_id integer, event_type text, host integer, acting_user integer, at timestamp without time zone)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
BEGIN
    -- The plugin's event row; its trigger (foreman_dlm_notify_event) fills the outbox. The host
    -- request's short path writes its `acquire` and `release` rows itself
    -- (foreman_dlm_host_request_v3): change both.
    INSERT INTO dlmlock_events (dlmlock_id, event_type, host_id, user_id, created_at, updated_at)
    VALUES (lock_id, event_type, host, acting_user, at, at);
END
$function$;
