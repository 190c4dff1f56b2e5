-- The current definition of foreman_dlm_holders: `migrate` applies it whenever this file changes.
CREATE OR REPLACE FUNCTION public.foreman_dlm_holders(lock_id integer, lock_host_id integer, lock_updated_at timestamp without time zone, lease_seconds integer)
 RETURNS TABLE(host_id integer, acquired_at timestamp without time zone, refreshed_at timestamp without time zone, expires_at timestamp without time zone)
 LANGUAGE plpgsql
 ROWS 3
AS $function$
BEGIN
    IF lock_host_id IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT h.host_id, h.acquired_at, h.refreshed_at,
           h.refreshed_at + make_interval(secs => lease_seconds)
      FROM foreman_dlm_lock_holders h
     WHERE h.dlmlock_id = lock_id
    UNION ALL
    SELECT lock_host_id, t.at, t.at, t.at + make_interval(secs => lease_seconds)
      FROM (SELECT COALESCE(lock_updated_at, now() AT TIME ZONE 'UTC') AS at) t
     WHERE NOT EXISTS (SELECT 1 FROM foreman_dlm_lock_holders h
                        WHERE h.dlmlock_id = lock_id AND h.host_id = lock_host_id);
END
$function$;
