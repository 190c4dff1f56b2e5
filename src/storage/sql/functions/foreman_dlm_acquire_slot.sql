-- The current definition of foreman_dlm_acquire_slot: `migrate` applies it whenever this file changes.
CREATE OR REPLACE FUNCTION public.foreman_dlm_acquire_slot(lock_id integer, caller integer, max_holders integer, lease_seconds integer, windows jsonb, on_lease_expiry text, cooldown_seconds integer, halted boolean, gated boolean, gate_verdict boolean, at timestamp without time zone, acting_user integer, OUT outcome text, OUT next_window_at timestamp without time zone, OUT retry_at timestamp without time zone, OUT enabled boolean, OUT updated_at timestamp without time zone, OUT holders text, OUT halted_now boolean)
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
    -- An acquire on a lock that has holders; the host request locked its row. `halted`: the
    -- lock was halted before this request; `gated`: a new holder needs the alert gate, whose
    -- answer is `gate_verdict` (NULL: not asked yet, so the decision goes back to the service).
    SELECT * INTO target FROM dlmlocks l WHERE l.id = lock_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT c.expired, c.live, c.oldest, c.mine INTO expired, live, oldest, mine
      FROM foreman_dlm_holder_counts(target, caller, lease_seconds, at) c;
    -- A lapsed lease halts the lock in this very request, before anyone takes the freed slot.
    halted := halted OR (cardinality(expired) > 0 AND on_lease_expiry = 'halt');

    outcome := CASE
        WHEN NOT target.enabled THEN 'disabled'
        -- A holder's acquire is a refresh, even outside a window or halted: it is mid-update.
        WHEN mine IS NOT NULL THEN 'refreshed'
        WHEN halted THEN 'halted'
        WHEN windows <> '[]'::jsonb AND NOT foreman_dlm_window_open(windows, at)
            THEN 'outside_window'
        WHEN live >= max_holders THEN CASE WHEN max_holders = 1 THEN 'held' ELSE 'full' END
    END;
    IF outcome IS NULL THEN
        IF cooldown_seconds > 0 THEN
            retry_at := foreman_dlm_cooling_until(target.id, cooldown_seconds,
                                                  cardinality(expired) > 0, at);
        END IF;
        outcome := CASE
            WHEN retry_at IS NOT NULL THEN 'cooling_down'
            WHEN NOT gated THEN 'granted'
            WHEN gate_verdict IS NULL THEN 'ask_gate'
            WHEN gate_verdict THEN 'granted'
            ELSE 'blocked'
        END;
        IF outcome = 'ask_gate' THEN
            -- Nothing written: the service asks Prometheus and calls again with the answer.
            RETURN;
        END IF;
    END IF;
    enabled := target.enabled;
    updated_at := target.updated_at;

    IF outcome IN ('granted', 'refreshed') OR cardinality(expired) > 0 THEN
        PERFORM foreman_dlm_settle_holders(target);
        halted_now := foreman_dlm_lapse_holders(target, expired, on_lease_expiry, at);
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
