-- The outbox: what a lock change must tell others (a monitoring proxy, Foreman's host status,
-- webhook receivers), written in the same transaction as the change, so that a crash between the
-- change and the call loses nothing. A background worker delivers each row (see
-- src/notifications/).

-- Where notifications go, and which events each destination wants. The service writes this table
-- from its settings when it starts; every instance of an HA pair has the same settings.
CREATE TABLE foreman_dlm_destinations (
    name text PRIMARY KEY,      -- monitoring, host_status, webhook:<url>
    events text[] NOT NULL,
    updated_at timestamp without time zone NOT NULL
);

CREATE TABLE foreman_dlm_notifications (
    id bigserial PRIMARY KEY,
    -- The receivers' de-duplication key: delivery is at least once.
    uuid uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    destination text NOT NULL,
    -- acquire, release, expire, fail, enable, disable, stale, force_release.
    event text NOT NULL,
    -- Names are kept as they were: a lock or host deleted later still gets its downtime removed.
    dlmlock_id integer,
    lock_name text,
    host_id integer,
    host_name text,
    user_id integer,
    user_login text,
    occurred_at timestamp without time zone NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamp without time zone NOT NULL,
    -- A worker's claim; another instance takes the row over once it has passed (a crash).
    claimed_until timestamp without time zone,
    delivered_at timestamp without time zone,
    failed_at timestamp without time zone,
    last_error text
);
-- The worker's queue: undelivered rows per destination and host, in order.
CREATE INDEX foreman_dlm_notifications_pending ON foreman_dlm_notifications
    (destination, host_id, id) WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX foreman_dlm_notifications_due ON foreman_dlm_notifications (next_attempt_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;

-- One row per destination that wants `event`; how many.
CREATE FUNCTION foreman_dlm_enqueue(event text, lock_id integer, about_host integer,
                                    acting_user integer, at timestamp) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    written integer;
BEGIN
    INSERT INTO foreman_dlm_notifications (destination, event, dlmlock_id, lock_name, host_id,
                                           host_name, user_id, user_login, occurred_at,
                                           next_attempt_at)
    SELECT d.name, event, lock_id, (SELECT l.name FROM dlmlocks l WHERE l.id = lock_id),
           about_host, (SELECT h.name FROM hosts h WHERE h.id = about_host), acting_user,
           (SELECT u.login FROM users u WHERE u.id = acting_user), at,
           now() AT TIME ZONE 'UTC'
      FROM foreman_dlm_destinations d
     WHERE event = ANY (d.events);
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END
$$;

-- Every lock event becomes notifications, whoever writes it: foreman-dlm, an older instance in a
-- rolling upgrade, or the plugin's UI (its Release button). A `release` by a Foreman user rather
-- than the hidden API user a host request runs as is a force release.
CREATE FUNCTION foreman_dlm_notify_event() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    event text := NEW.event_type;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM foreman_dlm_destinations) THEN
        RETURN NULL;
    END IF;
    IF event = 'release' AND NEW.user_id IS NOT NULL AND NEW.user_id IS DISTINCT FROM
       (SELECT u.id FROM users u WHERE u.lower_login = 'foreman_api_admin') THEN
        event := 'force_release';
    END IF;
    PERFORM foreman_dlm_enqueue(event, NEW.dlmlock_id, NEW.host_id, NEW.user_id, NEW.created_at);
    RETURN NULL;
END
$$;

CREATE TRIGGER foreman_dlm_notify AFTER INSERT ON dlmlock_events
    FOR EACH ROW EXECUTE FUNCTION foreman_dlm_notify_event();
