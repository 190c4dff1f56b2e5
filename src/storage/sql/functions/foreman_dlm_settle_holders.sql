-- The current definition of foreman_dlm_settle_holders: `migrate` applies it whenever this file changes.
CREATE OR REPLACE FUNCTION public.foreman_dlm_settle_holders(locked dlmlocks)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
BEGIN
    IF locked.host_id IS NULL THEN
        DELETE FROM foreman_dlm_lock_holders WHERE dlmlock_id = locked.id;
    ELSE
        INSERT INTO foreman_dlm_lock_holders (dlmlock_id, host_id, acquired_at, refreshed_at)
        VALUES (locked.id, locked.host_id, COALESCE(locked.updated_at, now() AT TIME ZONE 'UTC'),
                COALESCE(locked.updated_at, now() AT TIME ZONE 'UTC'))
            ON CONFLICT DO NOTHING;
    END IF;
END
$function$;
