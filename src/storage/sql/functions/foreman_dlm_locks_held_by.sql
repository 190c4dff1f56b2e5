-- The current definition of foreman_dlm_locks_held_by: `migrate` applies it whenever this file changes.
CREATE OR REPLACE FUNCTION public.foreman_dlm_locks_held_by(host integer)
 RETURNS bigint
 LANGUAGE plpgsql
 STABLE
AS $function$
BEGIN
    RETURN (SELECT count(*) FROM foreman_dlm_lock_holders h JOIN dlmlocks l ON l.id = h.dlmlock_id
             WHERE h.host_id = host AND l.host_id IS NOT NULL);
END
$function$;
