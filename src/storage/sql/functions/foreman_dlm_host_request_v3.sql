-- The current definition of foreman_dlm_host_request_v3: `migrate` applies it whenever this file changes.
CREATE OR REPLACE FUNCTION public.foreman_dlm_host_request_v3(operation text, lookup text, subject text, want_id integer, want_name text, verdict boolean, clock timestamp without time zone, pattern_max_holders integer, pattern_lease_seconds integer, pattern_windows jsonb, opt_out_parameter text, allowed_values jsonb, denied_values jsonb, max_created_per_hour integer, max_held integer, pattern_on_lease_expiry text, pattern_cooldown_seconds integer, pattern_block_on_alerts text, gate_verdict boolean, gate_expression text, may_grant boolean, OUT caller_id integer, OUT caller_name character varying, OUT allowed boolean, OUT opt_out_value text, OUT lock_id integer, OUT done boolean, OUT outcome text, OUT next_window_at timestamp without time zone, OUT id integer, OUT name character varying, OUT lock_type character varying, OUT enabled boolean, OUT created_at timestamp without time zone, OUT updated_at timestamp without time zone, OUT max_holders integer, OUT lease_seconds integer, OUT windows text, OUT holders text, OUT retry_at timestamp without time zone, OUT on_lease_expiry text, OUT cooldown_seconds integer, OUT block_on_alerts text, OUT halt text)
 RETURNS record
 LANGUAGE plpgsql
 SET enable_seqscan TO 'off'
AS $function$
DECLARE
    at timestamp := COALESCE(clock, now() AT TIME ZONE 'UTC');
    host_org integer;
    host_loc integer;
    host_group integer;
    host_os integer;
    target record;
    window_list jsonb;
    located boolean := false;
    acting_user integer;
    next_holder integer;
    created_lock integer;
    creations record;
    slot record;
    gated boolean;
    any_halt boolean;
BEGIN
    done := false;
    -- Who asks. Neither hosts column is unique, so the lowest id wins among equals; the Katello
    -- uuid index is not unique either, and like Katello the first facet wins.
    IF lookup = 'consumer_uuid' THEN
        SELECT h.id, h.name, h.organization_id, h.location_id, h.hostgroup_id,
               h.operatingsystem_id
          INTO caller_id, caller_name, host_org, host_loc, host_group, host_os
          FROM katello_subscription_facets f JOIN hosts h ON h.id = f.host_id
         WHERE f.uuid = subject
         ORDER BY f.id LIMIT 1;
    ELSE
        SELECT h.id, h.name, h.organization_id, h.location_id, h.hostgroup_id,
               h.operatingsystem_id
          INTO caller_id, caller_name, host_org, host_loc, host_group, host_os
          FROM hosts h
         WHERE h.certname = subject OR h.name = subject
         ORDER BY (h.certname = subject) IS TRUE DESC, h.id LIMIT 1;
    END IF;
    IF caller_id IS NULL THEN
        RETURN;
    END IF;

    -- Every host request records the host's check-in, as the plugin does; the first creates the
    -- facet, and the unique index makes a concurrent twin a no-op.
    UPDATE dlm_facets f
       SET last_checkin_at = now() AT TIME ZONE 'UTC', updated_at = now() AT TIME ZONE 'UTC'
     WHERE f.host_id = caller_id;
    IF NOT FOUND THEN
        INSERT INTO dlm_facets (host_id, last_checkin_at, created_at, updated_at)
        VALUES (caller_id, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC',
                now() AT TIME ZONE 'UTC')
            ON CONFLICT DO NOTHING;
    END IF;

    allowed := true;
    IF operation = 'acquire' AND verdict IS NOT NULL THEN
        allowed := verdict;
    ELSIF operation = 'acquire' THEN
        SELECT hp.value INTO opt_out_value
          FROM foreman_dlm_host_parameter(caller_id, host_org, host_loc, host_group, host_os,
                                          opt_out_parameter) hp;
        allowed := CASE WHEN opt_out_value IS NULL OR allowed_values ? opt_out_value THEN true
                        WHEN denied_values ? opt_out_value THEN false END;
        IF allowed IS NULL THEN
            RETURN;
        END IF;
    END IF;

    -- The lock: by id, else by name (the oldest row among duplicate names). Acquire and release
    -- lock its row first, like every change of its holders, and create a missing lock free, as the
    -- plugin does (an opted-out host's acquire too).
    FOR attempt IN 1..2 LOOP
        lock_id := COALESCE((SELECT x.id FROM dlmlocks x WHERE x.id = want_id),
                            (SELECT x.id FROM dlmlocks x WHERE x.name = want_name
                              ORDER BY x.id LIMIT 1));
        IF lock_id IS NOT NULL AND operation = 'show' THEN
            SELECT l.*, p.max_holders AS own_max_holders, p.lease_seconds AS own_lease_seconds,
                   p.windows AS own_windows, p.on_lease_expiry AS own_on_lease_expiry,
                   p.cooldown_seconds AS own_cooldown_seconds,
                   p.block_on_alerts AS own_block_on_alerts
              INTO target
              FROM dlmlocks l LEFT JOIN foreman_dlm_lock_policies p ON p.dlmlock_id = l.id
             WHERE l.id = lock_id;
            located := FOUND;
        ELSIF lock_id IS NOT NULL THEN
            SELECT l.*, p.max_holders AS own_max_holders, p.lease_seconds AS own_lease_seconds,
                   p.windows AS own_windows, p.on_lease_expiry AS own_on_lease_expiry,
                   p.cooldown_seconds AS own_cooldown_seconds,
                   p.block_on_alerts AS own_block_on_alerts
              INTO target
              FROM dlmlocks l LEFT JOIN foreman_dlm_lock_policies p ON p.dlmlock_id = l.id
             WHERE l.id = lock_id
               FOR UPDATE OF l;
            located := FOUND;
        END IF;
        EXIT WHEN located OR operation = 'show' OR attempt = 2;
        -- A host at its max_held locks does not get a new one, missing or not (see below):
        -- refused before anything is created.
        IF operation = 'acquire' AND allowed AND max_held > 0
           AND foreman_dlm_locks_held_by(caller_id) >= max_held THEN
            outcome := 'too_many_held';
            lock_id := NULL;
            RETURN;
        END IF;
        -- A host creates at most max_created_per_hour locks an hour (0: no limit): beyond it
        -- the request is refused, nothing written, with when the host may create again. The
        -- host's row is locked, so that its concurrent requests count one after the other.
        IF max_created_per_hour > 0 THEN
            SELECT c.created, c.hour_started_at INTO creations
              FROM foreman_dlm_host_creations c WHERE c.host_id = caller_id FOR UPDATE;
            IF FOUND AND creations.hour_started_at > at - interval '1 hour'
               AND creations.created >= max_created_per_hour THEN
                outcome := 'too_many_created';
                retry_at := creations.hour_started_at + interval '1 hour';
                lock_id := NULL;
                RETURN;
            END IF;
        END IF;
        -- Names the unique index leaves out (duplicated before foreman-dlm) exist already; a
        -- concurrent creator's twin becomes no row, and the next look finds its lock.
        INSERT INTO dlmlocks (name, type, enabled, host_id, created_at, updated_at)
        VALUES (want_name, 'ForemanDlm::Dlmlock::Update', true, NULL, now() AT TIME ZONE 'UTC',
                now() AT TIME ZONE 'UTC')
            ON CONFLICT DO NOTHING
        RETURNING dlmlocks.id INTO created_lock;
        IF created_lock IS NOT NULL AND max_created_per_hour > 0 THEN
            INSERT INTO foreman_dlm_host_creations AS c (host_id, hour_started_at, created)
            VALUES (caller_id, at, 1)
                ON CONFLICT (host_id) DO UPDATE
                SET created = CASE WHEN c.hour_started_at <= at - interval '1 hour' THEN 1
                                   ELSE c.created + 1 END,
                    hour_started_at = CASE WHEN c.hour_started_at <= at - interval '1 hour'
                                           THEN at ELSE c.hour_started_at END;
        END IF;
    END LOOP;
    IF NOT located THEN
        lock_id := NULL;
        RETURN;
    END IF;

    lock_id := target.id;
    id := target.id;
    name := target.name;
    lock_type := target.type;
    enabled := target.enabled;
    created_at := target.created_at;
    updated_at := target.updated_at;
    -- The policy in force: the lock's own values, else the settings'. A lease of 0 stores "no
    -- lease" (set explicitly, or no pattern gives one).
    max_holders := COALESCE(target.own_max_holders, pattern_max_holders);
    lease_seconds := NULLIF(COALESCE(target.own_lease_seconds, pattern_lease_seconds), 0);
    window_list := COALESCE(target.own_windows, pattern_windows);
    windows := window_list::text;
    -- '' on the lock: no gate, even where a pattern gives one.
    on_lease_expiry := COALESCE(target.own_on_lease_expiry, pattern_on_lease_expiry, 'halt');
    cooldown_seconds := COALESCE(target.own_cooldown_seconds, pattern_cooldown_seconds, 0);
    block_on_alerts := NULLIF(COALESCE(target.own_block_on_alerts, pattern_block_on_alerts), '');
    -- A caller that cannot know the whole policy (the previous release's entry point) grants
    -- nothing new: refused as blocked, it fails closed. A verdict answers the expression it was
    -- asked for: after an admin's edit in between, the gate is asked again. (The hot path runs
    -- as few PL/pgSQL statements as it can: each costs about a microsecond.)
    gated := block_on_alerts IS NOT NULL OR NOT may_grant;
    IF gated THEN
        gate_verdict := CASE
            WHEN NOT may_grant THEN false
            WHEN gate_expression IS NOT DISTINCT FROM block_on_alerts THEN gate_verdict
        END;
    END IF;
    IF operation = 'show' THEN
        halt := foreman_dlm_halt_json(target.id);
        done := true;
        holders := CASE WHEN target.host_id IS NULL THEN '[]'
                        ELSE foreman_dlm_holders_json(target.id, target.host_id,
                                                      target.updated_at, lease_seconds, at)
                   END;
        RETURN;
    ELSIF NOT allowed THEN
        -- An opted-out host never touches the lock; the plugin records no event either.
        halt := foreman_dlm_halt_json(target.id);
        outcome := 'opted_out';
        done := false;
        holders := foreman_dlm_holders_json(target.id, target.host_id, target.updated_at,
                                            lease_seconds, at);
        RETURN;
    ELSIF operation = 'acquire' AND max_held > 0
          AND (target.host_id IS NULL
               OR (target.host_id <> caller_id
                   AND NOT EXISTS (SELECT 1 FROM foreman_dlm_lock_holders h
                                    WHERE h.dlmlock_id = target.id AND h.host_id = caller_id)))
          AND foreman_dlm_locks_held_by(caller_id) >= max_held THEN
        -- A host holds at most max_held locks at once (0: no limit); a refresh of a slot it
        -- has is not a new one. Refused with nothing written: the host is not waiting for this
        -- lock, it must give back one of the others.
        halt := foreman_dlm_halt_json(target.id);
        outcome := 'too_many_held';
        done := false;
        holders := foreman_dlm_holders_json(target.id, target.host_id, target.updated_at,
                                            lease_seconds, at);
        RETURN;
    END IF;

    -- Who the events name, and whether a halt is in force: one statement, after the lock's row
    -- is locked, so that a halt that waited for the row (see foreman_dlm_halt) is seen. Halts
    -- are rare: their JSON is built only when there is one.
    SELECT (SELECT u.id FROM users u WHERE u.lower_login = 'foreman_api_admin'),
           EXISTS (SELECT 1 FROM foreman_dlm_halts h
                    WHERE h.dlmlock_id = target.id OR h.dlmlock_id IS NULL)
      INTO acting_user, any_halt;
    IF any_halt THEN
        halt := foreman_dlm_halt_json(target.id);
    END IF;
    IF operation = 'acquire' AND target.host_id IS NULL THEN
        -- A free lock has no holders, whatever rows another writer left (see
        -- foreman_dlm_holders): granted unless disabled, halted, outside its windows, cooling
        -- down or gated.
        outcome := CASE
            WHEN NOT target.enabled THEN 'disabled'
            WHEN halt IS NOT NULL THEN 'halted'
            WHEN window_list <> '[]'::jsonb AND NOT foreman_dlm_window_open(window_list, at)
                THEN 'outside_window'
            WHEN cooldown_seconds > 0
                 AND foreman_dlm_cooling_until(target.id, cooldown_seconds, false, at) IS NOT NULL
                THEN 'cooling_down'
            WHEN NOT gated OR gate_verdict THEN 'granted'
            WHEN gate_verdict IS NULL THEN 'ask_gate'
            ELSE 'blocked'
        END;
        IF outcome = 'ask_gate' THEN
            -- The service asks Prometheus and calls again with the answer; nothing written.
            done := false;
            holders := '[]';
            RETURN;
        END IF;
        IF outcome = 'granted' THEN
            -- The hot path writes its rows itself instead of calling foreman_dlm_hold and
            -- foreman_dlm_granted (the same rows): a PL/pgSQL call costs more than the write.
            DELETE FROM foreman_dlm_lock_holders h
             WHERE h.dlmlock_id = target.id AND h.host_id <> caller_id;
            INSERT INTO foreman_dlm_lock_holders AS h (dlmlock_id, host_id, acquired_at,
                                                       refreshed_at)
            VALUES (target.id, caller_id, at, at)
                ON CONFLICT (dlmlock_id, host_id)
                DO UPDATE SET acquired_at = EXCLUDED.acquired_at,
                              refreshed_at = EXCLUDED.refreshed_at, stale_notified_at = NULL;
            UPDATE dlmlocks l SET host_id = caller_id, updated_at = at WHERE l.id = target.id;
            INSERT INTO dlmlock_events (dlmlock_id, event_type, host_id, user_id, created_at,
                                        updated_at)
            VALUES (target.id, 'acquire', caller_id, acting_user, at, at);
            DELETE FROM foreman_dlm_waiting w
             WHERE w.dlmlock_id = target.id AND w.host_id = caller_id;
            updated_at := at;
            holders := json_build_array(json_build_object(
                           'host_id', caller_id, 'name', caller_name,
                           'acquired_at', at, 'refreshed_at', at,
                           'expires_at', at + make_interval(secs => lease_seconds)))::text;
        ELSE
            PERFORM foreman_dlm_refuse(target.id, caller_id, outcome, NULL, acting_user, at);
            IF outcome = 'outside_window' THEN
                next_window_at := foreman_dlm_next_window(window_list, at);
            ELSIF outcome = 'cooling_down' THEN
                retry_at := foreman_dlm_cooling_until(target.id, cooldown_seconds, false, at);
            END IF;
            holders := '[]';
        END IF;
    ELSIF operation = 'acquire' THEN
        SELECT * INTO slot
          FROM foreman_dlm_acquire_slot(target.id, caller_id, max_holders, lease_seconds,
                                        window_list, on_lease_expiry, cooldown_seconds,
                                        halt IS NOT NULL, gated,
                                        gate_verdict, at, acting_user) a;
        outcome := slot.outcome;
        IF outcome = 'ask_gate' THEN
            done := false;
            holders := '[]';
            RETURN;
        END IF;
        next_window_at := slot.next_window_at;
        retry_at := slot.retry_at;
        enabled := slot.enabled;
        updated_at := slot.updated_at;
        holders := slot.holders;
        IF slot.halted_now THEN
            halt := foreman_dlm_halt_json(target.id);
        END IF;
    ELSIF target.host_id = caller_id AND target.enabled AND lease_seconds IS NULL THEN
        -- The plugin's holder releases; without a lease nobody's slot has run out, so the
        -- others (if the lock has more slots) keep theirs and the oldest of them becomes the
        -- plugin's holder. Its event is written here, not by foreman_dlm_log_event (see above).
        DELETE FROM foreman_dlm_lock_holders h
         WHERE h.dlmlock_id = target.id AND h.host_id = caller_id;
        INSERT INTO dlmlock_events (dlmlock_id, event_type, host_id, user_id, created_at,
                                    updated_at)
        VALUES (target.id, 'release', caller_id, acting_user, at, at);
        IF cooldown_seconds > 0 THEN
            PERFORM foreman_dlm_slot_freed(target.id, at);
        END IF;
        UPDATE dlmlocks l
           SET host_id = (SELECT h.host_id FROM foreman_dlm_lock_holders h
                           WHERE h.dlmlock_id = target.id
                           ORDER BY h.acquired_at, h.host_id LIMIT 1),
               updated_at = at
         WHERE l.id = target.id
        RETURNING l.host_id INTO next_holder;
        outcome := 'released';
        updated_at := at;
        holders := CASE WHEN next_holder IS NULL THEN '[]'
                        ELSE foreman_dlm_holders_json(target.id, next_holder, at,
                                                      lease_seconds, at)
                   END;
    ELSE
        SELECT * INTO slot
          FROM foreman_dlm_release_slot(target.id, caller_id, max_holders, lease_seconds,
                                        on_lease_expiry, at, acting_user) r;
        outcome := slot.outcome;
        IF outcome = 'released' AND cooldown_seconds > 0 THEN
            PERFORM foreman_dlm_slot_freed(target.id, at);
        END IF;
        enabled := slot.enabled;
        updated_at := slot.updated_at;
        holders := slot.holders;
        IF slot.halted_now THEN
            halt := foreman_dlm_halt_json(target.id);
        END IF;
    END IF;
    done := outcome IN ('granted', 'refreshed', 'released', 'not_held');
END
$function$;
