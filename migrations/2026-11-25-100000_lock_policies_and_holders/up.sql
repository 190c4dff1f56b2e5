-- Lock policies (how many holders, leases, maintenance windows) and the holders themselves, in
-- tables of foreman-dlm's own. The plugin's tables keep their shape: its Rails models, its UI and a
-- rollback to the plugin see the rows they always saw. `dlmlocks.host_id` stays the holder the
-- plugin shows: the oldest holder.

-- What an admin set on a lock through the API. NULL: the value comes from the first matching
-- `[[locks.policies]]` pattern in the settings, else the default (1 holder, no lease, no window).
-- lease_seconds = 0 records "no lease", set explicitly, so that it wins over a pattern's lease.
CREATE TABLE foreman_dlm_lock_policies (
    dlmlock_id integer PRIMARY KEY REFERENCES dlmlocks (id) ON DELETE CASCADE,
    max_holders integer CHECK (max_holders >= 1),
    lease_seconds integer CHECK (lease_seconds >= 0),
    windows jsonb CHECK (jsonb_typeof(windows) = 'array'),
    created_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone NOT NULL
);

-- Every holder of every lock. A host's row goes when it releases, when its lease runs out, when
-- an admin releases it, and with its host or lock.
CREATE TABLE foreman_dlm_lock_holders (
    dlmlock_id integer NOT NULL REFERENCES dlmlocks (id) ON DELETE CASCADE,
    host_id integer NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    acquired_at timestamp without time zone NOT NULL,
    refreshed_at timestamp without time zone NOT NULL,
    -- When the holder was reported stale (not refreshed for locks.stale_time_hours); a refresh
    -- clears it, so each stale spell is reported once.
    stale_notified_at timestamp without time zone,
    PRIMARY KEY (dlmlock_id, host_id)
);
CREATE INDEX foreman_dlm_lock_holders_on_host_id ON foreman_dlm_lock_holders (host_id);

-- Today's holders become rows, acquired and last refreshed when the lock last changed.
INSERT INTO foreman_dlm_lock_holders (dlmlock_id, host_id, acquired_at, refreshed_at)
SELECT id, host_id, COALESCE(updated_at, now() AT TIME ZONE 'UTC'),
       COALESCE(updated_at, now() AT TIME ZONE 'UTC')
  FROM dlmlocks
 WHERE host_id IS NOT NULL;

-- A lock's holders with their expiry (NULL without a lease), expired ones included.
--
-- `dlmlocks.host_id` is the plugin's column, and other writers may still change it: the plugin's
-- UI (Release), or an older foreman-dlm during a rolling upgrade. So a NULL there means no
-- holders, whatever rows remain (the next change of the lock deletes them), and a host_id without
-- a row is a holder since the lock's last change.
--
-- VOLATILE on purpose: a statement that has waited for the lock row (FOR UPDATE) must count the
-- holders that the transaction it waited for committed. A statement's own snapshot predates the
-- wait; a VOLATILE function's queries take a fresh one (READ COMMITTED). Every writer of holder
-- rows holds the lock's `dlmlocks` row first, so the count it sees is exact.
CREATE FUNCTION foreman_dlm_holders(lock_id integer, lock_host_id integer,
                                    lock_updated_at timestamp, lease_seconds integer)
RETURNS TABLE (host_id integer, acquired_at timestamp, refreshed_at timestamp,
               expires_at timestamp)
LANGUAGE plpgsql VOLATILE ROWS 3 AS $$
BEGIN
    IF lock_host_id IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT h.host_id, h.acquired_at, h.refreshed_at,
           h.refreshed_at + make_interval(secs => lease_seconds)
      FROM foreman_dlm_lock_holders h
     WHERE h.dlmlock_id = lock_id
    UNION ALL
    SELECT lock_host_id, t.at, t.at, t.at + make_interval(secs => lease_seconds)
      FROM (SELECT COALESCE(lock_updated_at, now() AT TIME ZONE 'UTC') AS at) t
     WHERE NOT EXISTS (SELECT 1 FROM foreman_dlm_lock_holders h
                        WHERE h.dlmlock_id = lock_id AND h.host_id = lock_host_id);
END
$$;

-- The holders that hold at `at` (UTC), oldest first, as the JSON the service reads back.
CREATE FUNCTION foreman_dlm_holders_json(lock_id integer, lock_host_id integer,
                                         lock_updated_at timestamp, lease_seconds integer,
                                         at timestamp)
RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN (
        SELECT COALESCE(json_agg(json_build_object(
                                     'host_id', h.host_id,
                                     'name', (SELECT hs.name FROM hosts hs WHERE hs.id = h.host_id),
                                     'acquired_at', h.acquired_at,
                                     'refreshed_at', h.refreshed_at,
                                     'expires_at', h.expires_at)
                                 ORDER BY h.acquired_at, h.host_id)::text, '[]')
          FROM foreman_dlm_holders(lock_id, lock_host_id, lock_updated_at, lease_seconds) h
         WHERE h.expires_at IS NULL OR h.expires_at > at);
END
$$;

-- The window functions are PL/pgSQL, not SQL, so that each session plans their queries once
-- (a SQL function that cannot be inlined is parsed and planned on every statement that calls it).
--
-- Whether one of the windows is open at `at` (UTC). A window is
-- {"days": ["mon", …], "start": "HH:MM", "end": "HH:MM", "time_zone": "<IANA name>"}, checked by
-- the service before it is stored: no days = every day; an end at or before the start runs past
-- midnight into the next day, and `days` names the day it opens. Local time comes from the
-- server's time zone database, so daylight-saving changes count. No windows: always open.
CREATE FUNCTION foreman_dlm_window_open(windows jsonb, at timestamp) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN jsonb_array_length(windows) = 0 OR EXISTS (
        SELECT 1
          FROM jsonb_array_elements(windows) w
         CROSS JOIN LATERAL (
               SELECT (at AT TIME ZONE 'UTC') AT TIME ZONE (w->>'time_zone') AS local,
                      (w->>'start')::time AS opens, (w->>'end')::time AS closes,
                      jsonb_array_length(w->'days') = 0 AS every_day) t
         WHERE CASE WHEN t.opens < t.closes THEN
                    (t.every_day OR w->'days' ? to_char(t.local, 'dy'))
                    AND t.local::time >= t.opens AND t.local::time < t.closes
               ELSE
                    ((t.every_day OR w->'days' ? to_char(t.local, 'dy'))
                     AND t.local::time >= t.opens)
                    OR ((t.every_day OR w->'days' ? to_char(t.local - interval '1 day', 'dy'))
                        AND t.local::time < t.closes)
               END);
END
$$;

-- When the next window opens after `at` (UTC), in UTC; NULL without windows.
CREATE FUNCTION foreman_dlm_next_window(windows jsonb, at timestamp) RETURNS timestamp
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
        SELECT min(o.opens_at)
          FROM jsonb_array_elements(windows) w
         CROSS JOIN LATERAL (
               SELECT ((at AT TIME ZONE 'UTC') AT TIME ZONE (w->>'time_zone'))::date AS today) t
         CROSS JOIN LATERAL generate_series(0, 7) AS d(ahead)
         CROSS JOIN LATERAL (
               SELECT ((t.today + d.ahead + (w->>'start')::time) AT TIME ZONE (w->>'time_zone'))
                      AT TIME ZONE 'UTC' AS opens_at,
                      to_char(t.today + d.ahead, 'dy') AS day) o
         WHERE (jsonb_array_length(w->'days') = 0 OR w->'days' ? o.day)
           AND o.opens_at > at);
END
$$;
