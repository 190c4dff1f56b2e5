-- The current definition of foreman_dlm_hold: `migrate` applies it whenever this file changes.
CREATE OR REPLACE FUNCTION public.foreman_dlm_hold(lock_id integer, caller integer, since timestamp without time zone, at timestamp without time zone)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
BEGIN
    -- A granted or refreshed slot: a refresh keeps when the slot was first taken, and a new
    -- lease may be reported stale again. The host request's short path writes the same row
    -- itself (foreman_dlm_host_request_v3): change both.
    INSERT INTO foreman_dlm_lock_holders AS h (dlmlock_id, host_id, acquired_at, refreshed_at)
    VALUES (lock_id, caller, since, at)
        ON CONFLICT (dlmlock_id, host_id)
        DO UPDATE SET acquired_at = EXCLUDED.acquired_at, refreshed_at = EXCLUDED.refreshed_at,
                      stale_notified_at = NULL;
END
$function$;
