-- The current definition of foreman_dlm_enqueue: `migrate` applies it whenever this file changes.
CREATE OR REPLACE FUNCTION public.foreman_dlm_enqueue(event text, lock_id integer, about_host integer, acting_user integer, at timestamp without time zone)
 RETURNS integer
 LANGUAGE plpgsql
AS $function$
DECLARE
    written integer;
BEGIN
    INSERT INTO foreman_dlm_notifications (destination, event, dlmlock_id, lock_name, host_id,
                                           host_name, user_id, user_login, occurred_at,
                                           next_attempt_at)
    SELECT d.name, event, lock_id, (SELECT l.name FROM dlmlocks l WHERE l.id = lock_id),
           about_host, (SELECT h.name FROM hosts h WHERE h.id = about_host), acting_user,
           (SELECT u.login FROM users u WHERE u.id = acting_user), at,
           now() AT TIME ZONE 'UTC'
      FROM foreman_dlm_destinations d
     WHERE event = ANY (d.events);
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END
$function$;
