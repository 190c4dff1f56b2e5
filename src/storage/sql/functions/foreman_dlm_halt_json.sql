-- The current definition of foreman_dlm_halt_json: `migrate` applies it whenever this file changes.
CREATE OR REPLACE FUNCTION public.foreman_dlm_halt_json(lock_id integer)
 RETURNS text
 LANGUAGE plpgsql
 STABLE
AS $function$
DECLARE
    halt_row record;
BEGIN
    -- The halt a lock is under: its own, else the fleet's (a halt of every lock); NULL if none.
    SELECT h.halted_at, h.reason, h.host_id, h.user_id, h.dlmlock_id IS NULL AS fleet
      INTO halt_row
      FROM foreman_dlm_halts h WHERE h.dlmlock_id = lock_id;
    IF NOT FOUND THEN
        SELECT h.halted_at, h.reason, h.host_id, h.user_id, true AS fleet
          INTO halt_row
          FROM foreman_dlm_halts h WHERE h.dlmlock_id IS NULL;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
    END IF;
    RETURN json_build_object('halted_at', halt_row.halted_at, 'reason', halt_row.reason,
                             'host_id', halt_row.host_id, 'user_id', halt_row.user_id,
                             'fleet', halt_row.fleet)::text;
END
$function$;
