-- The current definition of foreman_dlm_acquire_held: `migrate` applies it whenever this file changes.
CREATE OR REPLACE FUNCTION public.foreman_dlm_acquire_held(lock_id integer, caller integer, allowed boolean, max_holders integer, lease_seconds integer, windows jsonb, at timestamp without time zone, acting_user integer, OUT outcome text, OUT next_window_at timestamp without time zone, OUT enabled boolean, OUT updated_at timestamp without time zone, OUT holders text)
 RETURNS record
 LANGUAGE plpgsql
AS $function$
DECLARE
    target dlmlocks;
    expired integer[];
    live integer;
    oldest integer;
    mine timestamp;
BEGIN
    -- The host's opt-out parameter: NULL is a value the service classifies and asks again with;
    -- an opted-out host never touches the lock (the plugin records no event either).
    IF allowed IS NULL OR lock_id IS NULL THEN
        RETURN;
    ELSIF NOT allowed THEN
        outcome := 'opted_out';
        RETURN;
    END IF;
    SELECT * INTO target FROM dlmlocks l WHERE l.id = lock_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT c.expired, c.live, c.oldest, c.mine INTO expired, live, oldest, mine
      FROM foreman_dlm_holder_counts(target, caller, lease_seconds, at) c;

    outcome := CASE
        WHEN NOT target.enabled THEN 'disabled'
        -- A holder's acquire is a refresh, even outside a window: it is mid-update.
        WHEN mine IS NOT NULL THEN 'refreshed'
        WHEN windows <> '[]'::jsonb AND NOT foreman_dlm_window_open(windows, at)
            THEN 'outside_window'
        WHEN live >= max_holders THEN CASE WHEN max_holders = 1 THEN 'held' ELSE 'full' END
        ELSE 'granted'
    END;
    enabled := target.enabled;
    updated_at := target.updated_at;

    IF outcome IN ('granted', 'refreshed') OR cardinality(expired) > 0 THEN
        PERFORM foreman_dlm_settle_holders(target);
        PERFORM foreman_dlm_expire_holders(target, expired, at);
        IF outcome IN ('granted', 'refreshed') THEN
            PERFORM foreman_dlm_hold(target.id, caller, COALESCE(mine, at), at);
        END IF;
        SELECT s.host_id, s.updated_at INTO target.host_id, updated_at
          FROM foreman_dlm_stamp(target, at) s;
        oldest := target.host_id;
    END IF;

    IF outcome = 'granted' THEN
        PERFORM foreman_dlm_granted(target.id, caller, acting_user, at);
    ELSIF outcome <> 'refreshed' THEN
        PERFORM foreman_dlm_refuse(target.id, caller, outcome, oldest, acting_user, at);
        IF outcome = 'outside_window' THEN
            next_window_at := foreman_dlm_next_window(windows, at);
        END IF;
    END IF;
    holders := foreman_dlm_holders_json(target.id, target.host_id, updated_at, lease_seconds, at);
END
$function$;
