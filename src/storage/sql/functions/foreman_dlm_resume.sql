-- The current definition of foreman_dlm_resume: `migrate` applies it whenever this file changes.
CREATE OR REPLACE FUNCTION public.foreman_dlm_resume(lock_id integer, acting_user integer, at timestamp without time zone)
 RETURNS integer
 LANGUAGE plpgsql
AS $function$
DECLARE
    lifted record;
    lifted_count integer := 0;
BEGIN
    -- Lifts the lock's own halt, or with lock_id NULL the fleet's, with a `resume` event (or,
    -- for the fleet, a notification) naming who resumed. The two stay apart: a lock halted on
    -- its own (a lapsed lease: maybe a failed update) needs its own look, and lifting the
    -- fleet's halt after an incident must not lift it by the way. Returns how many were lifted.
    FOR lifted IN
        DELETE FROM foreman_dlm_halts h
         WHERE h.dlmlock_id = lock_id OR (lock_id IS NULL AND h.dlmlock_id IS NULL)
        RETURNING h.dlmlock_id
    LOOP
        IF lifted.dlmlock_id IS NULL THEN
            PERFORM foreman_dlm_enqueue('resume', NULL, NULL, acting_user, at);
        ELSE
            PERFORM foreman_dlm_log_event(lifted.dlmlock_id, 'resume', NULL, acting_user, at);
        END IF;
        lifted_count := lifted_count + 1;
    END LOOP;
    RETURN lifted_count;
END
$function$;
