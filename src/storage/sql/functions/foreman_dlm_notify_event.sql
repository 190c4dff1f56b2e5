-- The current definition of foreman_dlm_notify_event: `migrate` applies it whenever this file changes.
CREATE OR REPLACE FUNCTION public.foreman_dlm_notify_event()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
DECLARE
    event text := NEW.event_type;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM foreman_dlm_destinations) THEN
        RETURN NULL;
    END IF;
    IF event = 'release' AND NEW.user_id IS NOT NULL AND NEW.user_id IS DISTINCT FROM
       (SELECT u.id FROM users u WHERE u.lower_login = 'foreman_api_admin') THEN
        event := 'force_release';
    END IF;
    PERFORM foreman_dlm_enqueue(event, NEW.dlmlock_id, NEW.host_id, NEW.user_id, NEW.created_at);
    RETURN NULL;
END
$function$;
