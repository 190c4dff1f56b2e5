-- The current definition of foreman_dlm_release_slot: `migrate` applies it whenever this file changes.
CREATE OR REPLACE FUNCTION public.foreman_dlm_release_slot(lock_id integer, caller integer, max_holders integer, lease_seconds integer, on_lease_expiry text, at timestamp without time zone, acting_user integer, OUT outcome text, OUT enabled boolean, OUT updated_at timestamp without time zone, OUT holders text, OUT halted_now boolean)
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
    -- A release the short path does not take (see foreman_dlm_host_request_v3); the host
    -- request locked the lock's row. A halt never refuses a release.
    SELECT * INTO target FROM dlmlocks l WHERE l.id = lock_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT c.expired, c.live, c.oldest, c.mine IS NOT NULL INTO expired, live, oldest, mine
      FROM foreman_dlm_holder_counts(target, caller, lease_seconds, at) c;

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
        halted_now := foreman_dlm_lapse_holders(target, expired, on_lease_expiry, at);
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
        PERFORM foreman_dlm_log_event(target.id, 'release', caller, acting_user, at);
    ELSIF outcome IN ('disabled', 'held') THEN
        PERFORM foreman_dlm_log_event(target.id, 'fail', oldest, acting_user, at);
    END IF;
    holders := foreman_dlm_holders_json(target.id, target.host_id, updated_at, lease_seconds, at);
END
$function$;
