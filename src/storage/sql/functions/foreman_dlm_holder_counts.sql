-- The current definition of foreman_dlm_holder_counts: `migrate` applies it whenever this file changes.
CREATE OR REPLACE FUNCTION public.foreman_dlm_holder_counts(target dlmlocks, caller integer, lease_seconds integer, at timestamp without time zone, OUT expired integer[], OUT live integer, OUT oldest integer, OUT mine timestamp without time zone)
 RETURNS record
 LANGUAGE plpgsql
AS $function$
BEGIN
    -- What acquire and release decide on, from one read of a locked lock's holders: the
    -- holders whose lease ran out (oldest first), how many are live, the oldest live one (a
    -- refusal names it), and since when the caller holds a live slot.
    SELECT COALESCE(array_agg(h.host_id ORDER BY h.acquired_at, h.host_id)
                        FILTER (WHERE h.expires_at <= at), '{}'),
           count(*) FILTER (WHERE h.expires_at IS NULL OR h.expires_at > at),
           (array_agg(h.host_id ORDER BY h.acquired_at, h.host_id)
                FILTER (WHERE h.expires_at IS NULL OR h.expires_at > at))[1],
           min(h.acquired_at) FILTER (WHERE h.host_id = caller
                                        AND (h.expires_at IS NULL OR h.expires_at > at))
      INTO expired, live, oldest, mine
      FROM foreman_dlm_holders(target.id, target.host_id, target.updated_at, lease_seconds) h;
END
$function$;
