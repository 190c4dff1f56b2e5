-- The current definition of foreman_dlm_release_held: `migrate` applies it whenever this file changes.
CREATE OR REPLACE FUNCTION public.foreman_dlm_release_held(lock_id integer, caller integer, max_holders integer, lease_seconds integer, at timestamp without time zone, acting_user integer, OUT outcome text, OUT enabled boolean, OUT updated_at timestamp without time zone, OUT holders text)
 RETURNS record
 LANGUAGE plpgsql
AS $function$
DECLARE
    target dlmlocks;
    expired integer[];
    live integer;
    oldest integer;
    mine boolean;
BEGIN
    SELECT * INTO target FROM dlmlocks l WHERE l.id = lock_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT COALESCE(array_agg(h.host_id ORDER BY h.acquired_at, h.host_id)
                        FILTER (WHERE h.expires_at <= at), '{}'),
           count(*) FILTER (WHERE h.expires_at IS NULL OR h.expires_at > at),
           (array_agg(h.host_id ORDER BY h.acquired_at, h.host_id)
                FILTER (WHERE h.expires_at IS NULL OR h.expires_at > at))[1],
           COALESCE(bool_or(h.host_id = caller AND (h.expires_at IS NULL OR h.expires_at > at)),
                    false)
      INTO expired, live, oldest, mine
      FROM foreman_dlm_holders(target.id, target.host_id, target.updated_at, lease_seconds) h;

    -- With one slot this is the plugin's rule: the holder, or anyone on a free lock, releases.
    -- With more, a caller without a slot is answered 200 and nothing changes.
    outcome := CASE
        WHEN NOT target.enabled THEN 'disabled'
        WHEN mine THEN 'released'
        WHEN max_holders = 1 AND live > 0 THEN 'held'
        ELSE 'not_held'
    END;
    enabled := target.enabled;
    updated_at := target.updated_at;

    IF outcome = 'released' OR cardinality(expired) > 0
       OR (outcome = 'not_held' AND max_holders = 1) THEN
        PERFORM foreman_dlm_settle_holders(target);
        PERFORM foreman_dlm_expire_holders(target, expired, at);
        IF outcome = 'released' THEN
            DELETE FROM foreman_dlm_lock_holders h
             WHERE h.dlmlock_id = target.id AND h.host_id = caller;
        END IF;
        -- A release on a free single-slot lock still touches updated_at, as the plugin does.
        SELECT s.host_id, s.updated_at INTO target.host_id, updated_at
          FROM foreman_dlm_stamp(target, at) s;
        oldest := target.host_id;
    END IF;

    IF outcome = 'released' THEN
        INSERT INTO dlmlock_events (dlmlock_id, event_type, host_id, user_id, created_at,
                                    updated_at)
        VALUES (target.id, 'release', caller, acting_user, at, at);
    ELSIF outcome IN ('disabled', 'held') THEN
        INSERT INTO dlmlock_events (dlmlock_id, event_type, host_id, user_id, created_at,
                                    updated_at)
        VALUES (target.id, 'fail', oldest, acting_user, at, at);
    END IF;
    holders := foreman_dlm_holders_json(target.id, target.host_id, updated_at, lease_seconds, at);
END
$function$;
