-- The current definition of foreman_dlm_holders_json: `migrate` applies it whenever this file changes.
CREATE OR REPLACE FUNCTION public.foreman_dlm_holders_json(lock_id integer, lock_host_id integer, lock_updated_at timestamp without time zone, lease_seconds integer, at timestamp without time zone)
 RETURNS text
 LANGUAGE plpgsql
AS $function$
BEGIN
    RETURN (
        SELECT COALESCE(json_agg(json_build_object(
                                     'host_id', h.host_id,
                                     'name', (SELECT hs.name FROM hosts hs WHERE hs.id = h.host_id),
                                     'acquired_at', h.acquired_at,
                                     'refreshed_at', h.refreshed_at,
                                     'expires_at', h.expires_at)
                                 ORDER BY h.acquired_at, h.host_id)::text, '[]')
          FROM foreman_dlm_holders(lock_id, lock_host_id, lock_updated_at, lease_seconds) h
         WHERE h.expires_at IS NULL OR h.expires_at > at);
END
$function$;
