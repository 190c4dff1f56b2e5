-- The current definition of foreman_dlm_stamp: `migrate` applies it whenever this file changes.
CREATE OR REPLACE FUNCTION public.foreman_dlm_stamp(locked dlmlocks, at timestamp without time zone, OUT host_id integer, OUT updated_at timestamp without time zone)
 RETURNS record
 LANGUAGE plpgsql
AS $function$
BEGIN
    UPDATE dlmlocks
       SET host_id = (SELECT h.host_id FROM foreman_dlm_lock_holders h
                       WHERE h.dlmlock_id = locked.id
                       ORDER BY h.acquired_at, h.host_id LIMIT 1),
           updated_at = at
     WHERE id = locked.id
 RETURNING dlmlocks.host_id, dlmlocks.updated_at INTO host_id, updated_at;
END
$function$;
