-- The current definition of foreman_dlm_cooling_until: `migrate` applies it whenever this file changes.
CREATE OR REPLACE FUNCTION public.foreman_dlm_cooling_until(lock_id integer, cooldown_seconds integer, freed_now boolean, at timestamp without time zone)
 RETURNS timestamp without time zone
 LANGUAGE plpgsql
 STABLE
AS $function$
DECLARE
    freed timestamp;
BEGIN
    -- When a lock with a cooldown may give out a slot again: its last freed slot (a release,
    -- a force release or a lapsed lease, see foreman_dlm_slot_freed) plus the cooldown. NULL:
    -- now.
    IF cooldown_seconds IS NULL OR cooldown_seconds <= 0 THEN
        RETURN NULL;
    ELSIF freed_now THEN
        freed := at;
    ELSE
        SELECT f.freed_at INTO freed FROM foreman_dlm_last_freed f WHERE f.dlmlock_id = lock_id;
    END IF;
    IF freed IS NULL OR freed + make_interval(secs => cooldown_seconds) <= at THEN
        RETURN NULL;
    END IF;
    RETURN freed + make_interval(secs => cooldown_seconds);
END
$function$;
