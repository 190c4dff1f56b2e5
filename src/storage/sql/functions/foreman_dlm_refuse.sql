-- The current definition of foreman_dlm_refuse: `migrate` applies it whenever this file changes.
CREATE OR REPLACE FUNCTION public.foreman_dlm_refuse(lock_id integer, caller integer, refusal text, holder integer, acting_user integer, at timestamp without time zone)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
BEGIN
    -- A refused acquire: the host waits (the status page shows why), and the plugin's `fail`
    -- event names the (oldest) holder, NULL on a free lock.
    INSERT INTO foreman_dlm_waiting AS w (dlmlock_id, host_id, reason, refused_at)
    VALUES (lock_id, caller, refusal, at)
        ON CONFLICT (dlmlock_id, host_id)
        DO UPDATE SET reason = EXCLUDED.reason, refused_at = EXCLUDED.refused_at;
    PERFORM foreman_dlm_log_event(lock_id, 'fail', holder, acting_user, at);
END
$function$;
