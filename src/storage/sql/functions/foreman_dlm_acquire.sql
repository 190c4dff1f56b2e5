-- The current definition of foreman_dlm_acquire: `migrate` applies it whenever this file changes.
CREATE OR REPLACE FUNCTION public.foreman_dlm_acquire(lock_id integer, caller integer, allowed boolean, max_holders integer, lease_seconds integer, windows jsonb, at timestamp without time zone, acting_user integer, OUT outcome text, OUT next_window_at timestamp without time zone, OUT enabled boolean, OUT updated_at timestamp without time zone, OUT holders text)
 RETURNS record
 LANGUAGE plpgsql
AS $function$
DECLARE
    target dlmlocks;
BEGIN
    IF allowed IS NULL OR lock_id IS NULL THEN
        RETURN;
    ELSIF NOT allowed THEN
        outcome := 'opted_out';
        RETURN;
    END IF;
    SELECT * INTO target FROM dlmlocks l WHERE l.id = lock_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    ELSIF target.host_id IS NOT NULL THEN
        SELECT * INTO outcome, next_window_at, enabled, updated_at, holders
          FROM foreman_dlm_acquire_held(lock_id, caller, allowed, max_holders, lease_seconds,
                                        windows, at, acting_user);
        RETURN;
    END IF;
    -- A free lock has no holders, whatever rows another writer left (see foreman_dlm_holders).
    enabled := target.enabled;
    outcome := CASE
        WHEN NOT target.enabled THEN 'disabled'
        WHEN windows <> '[]'::jsonb AND NOT foreman_dlm_window_open(windows, at)
            THEN 'outside_window'
        ELSE 'granted'
    END;
    IF outcome = 'granted' THEN
        -- One statement: each costs more to start than to run. Its parts touch different rows
        -- (leftovers are other hosts' rows), so none needs to see another's change.
        WITH leftovers AS (
            DELETE FROM foreman_dlm_lock_holders h
             WHERE h.dlmlock_id = target.id AND h.host_id <> caller
        ), holder AS (
            INSERT INTO foreman_dlm_lock_holders AS h (dlmlock_id, host_id, acquired_at,
                                                       refreshed_at)
            VALUES (target.id, caller, at, at)
                ON CONFLICT (dlmlock_id, host_id)
                DO UPDATE SET acquired_at = EXCLUDED.acquired_at,
                              refreshed_at = EXCLUDED.refreshed_at, stale_notified_at = NULL
        ), stamped AS (
            UPDATE dlmlocks l SET host_id = caller, updated_at = at WHERE l.id = target.id
        ), no_longer_waiting AS (
            DELETE FROM foreman_dlm_waiting w
             WHERE w.dlmlock_id = target.id AND w.host_id = caller
        )
        INSERT INTO dlmlock_events (dlmlock_id, event_type, host_id, user_id, created_at,
                                    updated_at)
        VALUES (target.id, 'acquire', caller, acting_user, at, at);
        updated_at := at;
        holders := json_build_array(json_build_object(
                       'host_id', caller,
                       'name', (SELECT hs.name FROM hosts hs WHERE hs.id = caller),
                       'acquired_at', at, 'refreshed_at', at,
                       'expires_at', at + make_interval(secs => lease_seconds)))::text;
    ELSE
        INSERT INTO foreman_dlm_waiting AS w (dlmlock_id, host_id, reason, refused_at)
        VALUES (target.id, caller, outcome, at)
            ON CONFLICT (dlmlock_id, host_id)
            DO UPDATE SET reason = EXCLUDED.reason, refused_at = EXCLUDED.refused_at;
        INSERT INTO dlmlock_events (dlmlock_id, event_type, host_id, user_id, created_at,
                                    updated_at)
        VALUES (target.id, 'fail', NULL, acting_user, at, at);
        IF outcome = 'outside_window' THEN
            next_window_at := foreman_dlm_next_window(windows, at);
        END IF;
        updated_at := target.updated_at;
        holders := '[]';
    END IF;
END
$function$;
