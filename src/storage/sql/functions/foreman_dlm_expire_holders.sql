-- The current definition of foreman_dlm_expire_holders: `migrate` applies it whenever this file changes.
CREATE OR REPLACE FUNCTION public.foreman_dlm_expire_holders(locked dlmlocks, expired integer[], at timestamp without time zone)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
BEGIN
    IF cardinality(expired) > 0 THEN
        DELETE FROM foreman_dlm_lock_holders
         WHERE dlmlock_id = locked.id AND host_id = ANY (expired);
        INSERT INTO dlmlock_events (dlmlock_id, event_type, host_id, user_id, created_at,
                                    updated_at)
        SELECT locked.id, 'expire', e.host_id, NULL, at, at
          FROM unnest(expired) WITH ORDINALITY AS e(host_id, n)
         ORDER BY e.n;
        PERFORM foreman_dlm_slot_freed(locked.id, at);
    END IF;
END
$function$;
