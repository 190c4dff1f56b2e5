-- The current definition of foreman_dlm_lapse_holders: `migrate` applies it whenever this file changes.
CREATE OR REPLACE FUNCTION public.foreman_dlm_lapse_holders(locked dlmlocks, expired integer[], on_lease_expiry text, at timestamp without time zone)
 RETURNS boolean
 LANGUAGE plpgsql
AS $function$
BEGIN
    -- Holders whose lease ran out lose their slot. A host that stopped refreshing may have
    -- failed its update: with 'halt' the lock then takes no new holder until an admin resumes
    -- it, so that a bad update cannot walk through the cluster one lapsed lease at a time.
    IF cardinality(expired) = 0 THEN
        RETURN false;
    END IF;
    PERFORM foreman_dlm_expire_holders(locked, expired, at);
    IF on_lease_expiry IS DISTINCT FROM 'halt' THEN
        RETURN false;
    END IF;
    RETURN foreman_dlm_halt(locked.id, foreman_dlm_lapse_reason(expired), expired[1], NULL, at);
END
$function$;
