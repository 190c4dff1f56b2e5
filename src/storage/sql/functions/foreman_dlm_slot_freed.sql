-- The current definition of foreman_dlm_slot_freed: `migrate` applies it whenever this file changes.
CREATE OR REPLACE FUNCTION public.foreman_dlm_slot_freed(lock_id integer, at timestamp without time zone)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
BEGIN
    -- When the lock last freed a slot, for its cooldown (foreman_dlm_cooling_until). A host's
    -- own release calls this only on a lock with a cooldown: the hot path pays nothing for a
    -- rule it does not use. Lapses and an admin's releases are rare and always record it.
    INSERT INTO foreman_dlm_last_freed AS f (dlmlock_id, freed_at)
    VALUES (lock_id, at)
        ON CONFLICT (dlmlock_id) DO UPDATE SET freed_at = EXCLUDED.freed_at;
END
$function$;
