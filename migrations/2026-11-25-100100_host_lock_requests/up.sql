-- A host's acquire and release of a lock, decided and done by one function call each, inside the
-- host's one statement (see src/storage/locks/sql/acquire.sql and release.sql). PL/pgSQL runs
-- only the queries a case needs, each planned once per session: a single statement holding every
-- branch as CTEs cost more to start than to run.
--
-- Every change of a lock's holders first locks its `dlmlocks` row; these functions are VOLATILE,
-- so each query after that lock sees what the transaction it waited for committed.
--
-- Outcomes, for the service: acquire → granted, refreshed, disabled, outside_window, held (the
-- one slot is taken), full (every slot is taken); release → released, not_held, disabled, held.
-- NULL: no such target.

-- Hosts that asked and were refused, for the status page's "waiting" list: the last refusal of
-- each host per lock; a grant removes it.
CREATE TABLE foreman_dlm_waiting (
    dlmlock_id integer NOT NULL REFERENCES dlmlocks (id) ON DELETE CASCADE,
    host_id integer NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    reason text NOT NULL,
    refused_at timestamp without time zone NOT NULL,
    PRIMARY KEY (dlmlock_id, host_id)
);

-- Makes the holder rows the whole truth before they change: the plugin's holder (host_id) gets a
-- row if another writer set it without one, and rows another writer's release left behind go.
CREATE FUNCTION foreman_dlm_settle_holders(locked dlmlocks) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
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
$$;

-- Frees the slots of the holders in `expired` (oldest first), with an `expire` event each.
CREATE FUNCTION foreman_dlm_expire_holders(locked dlmlocks, expired integer[], at timestamp)
RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF cardinality(expired) > 0 THEN
        DELETE FROM foreman_dlm_lock_holders
         WHERE dlmlock_id = locked.id AND host_id = ANY (expired);
        INSERT INTO dlmlock_events (dlmlock_id, event_type, host_id, user_id, created_at,
                                    updated_at)
        SELECT locked.id, 'expire', e.host_id, NULL, at, at
          FROM unnest(expired) WITH ORDINALITY AS e(host_id, n)
         ORDER BY e.n;
    END IF;
END
$$;

-- Points the plugin's host_id at the oldest holder and stamps updated_at (the plugin's measure
-- of a stale lock); returns (host_id, updated_at).
CREATE FUNCTION foreman_dlm_stamp(locked dlmlocks, at timestamp,
                                  OUT host_id integer, OUT updated_at timestamp)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    UPDATE dlmlocks
       SET host_id = (SELECT h.host_id FROM foreman_dlm_lock_holders h
                       WHERE h.dlmlock_id = locked.id
                       ORDER BY h.acquired_at, h.host_id LIMIT 1),
           updated_at = at
     WHERE id = locked.id
 RETURNING dlmlocks.host_id, dlmlocks.updated_at INTO host_id, updated_at;
END
$$;

CREATE FUNCTION foreman_dlm_acquire(lock_id integer, caller integer, allowed boolean,
                                    max_holders integer,
                                    lease_seconds integer, windows jsonb, at timestamp,
                                    acting_user integer,
                                    OUT outcome text, OUT next_window_at timestamp,
                                    OUT enabled boolean, OUT updated_at timestamp,
                                    OUT holders text)
LANGUAGE plpgsql VOLATILE AS $$
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
    SELECT COALESCE(array_agg(h.host_id ORDER BY h.acquired_at, h.host_id)
                        FILTER (WHERE h.expires_at <= at), '{}'),
           count(*) FILTER (WHERE h.expires_at IS NULL OR h.expires_at > at),
           (array_agg(h.host_id ORDER BY h.acquired_at, h.host_id)
                FILTER (WHERE h.expires_at IS NULL OR h.expires_at > at))[1],
           min(h.acquired_at) FILTER (WHERE h.host_id = caller
                                        AND (h.expires_at IS NULL OR h.expires_at > at))
      INTO expired, live, oldest, mine
      FROM foreman_dlm_holders(target.id, target.host_id, target.updated_at, lease_seconds) h;

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
            INSERT INTO foreman_dlm_lock_holders AS s (dlmlock_id, host_id, acquired_at,
                                                       refreshed_at)
            VALUES (target.id, caller, COALESCE(mine, at), at)
                ON CONFLICT (dlmlock_id, host_id)
                DO UPDATE SET acquired_at = EXCLUDED.acquired_at,
                              refreshed_at = EXCLUDED.refreshed_at, stale_notified_at = NULL;
        END IF;
        SELECT s.host_id, s.updated_at INTO target.host_id, updated_at
          FROM foreman_dlm_stamp(target, at) s;
        oldest := target.host_id;
    END IF;

    IF outcome = 'granted' THEN
        INSERT INTO dlmlock_events (dlmlock_id, event_type, host_id, user_id, created_at,
                                    updated_at)
        VALUES (target.id, 'acquire', caller, acting_user, at, at);
        DELETE FROM foreman_dlm_waiting w WHERE w.dlmlock_id = target.id AND w.host_id = caller;
    ELSIF outcome NOT IN ('refreshed') THEN
        INSERT INTO foreman_dlm_waiting AS w (dlmlock_id, host_id, reason, refused_at)
        VALUES (target.id, caller, outcome, at)
            ON CONFLICT (dlmlock_id, host_id)
            DO UPDATE SET reason = EXCLUDED.reason, refused_at = EXCLUDED.refused_at;
        -- A refusal names the (oldest) holder, as the plugin's `fail` event does.
        INSERT INTO dlmlock_events (dlmlock_id, event_type, host_id, user_id, created_at,
                                    updated_at)
        VALUES (target.id, 'fail', oldest, acting_user, at, at);
        IF outcome = 'outside_window' THEN
            next_window_at := foreman_dlm_next_window(windows, at);
        END IF;
    END IF;
    holders := foreman_dlm_holders_json(target.id, target.host_id, updated_at, lease_seconds, at);
END
$$;

CREATE FUNCTION foreman_dlm_release(lock_id integer, caller integer, max_holders integer,
                                    lease_seconds integer, at timestamp, acting_user integer,
                                    OUT outcome text, OUT enabled boolean,
                                    OUT updated_at timestamp, OUT holders text)
LANGUAGE plpgsql VOLATILE AS $$
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
$$;
