-- The current definition of foreman_dlm_locks_held_by: `migrate` applies it whenever this file changes.
CREATE OR REPLACE FUNCTION public.foreman_dlm_locks_held_by(host integer)
 RETURNS bigint
 LANGUAGE plpgsql
 STABLE
AS $function$
BEGIN
    -- From the host's own holder rows (a host holds few locks), each checked against its lock
    -- (a free lock has no holders, whatever rows are left). Written as a join, the generic plan
    -- started from every held lock of the fleet instead, through an index that each grant and
    -- release churns.
    RETURN (SELECT count(*) FROM foreman_dlm_lock_holders h
             WHERE h.host_id = host
               AND (SELECT l.host_id FROM dlmlocks l WHERE l.id = h.dlmlock_id) IS NOT NULL);
END
$function$;
