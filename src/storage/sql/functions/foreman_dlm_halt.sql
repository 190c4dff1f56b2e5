-- The current definition of foreman_dlm_halt: `migrate` applies it whenever this file changes.
CREATE OR REPLACE FUNCTION public.foreman_dlm_halt(lock_id integer, why text, host integer, acting_user integer, at timestamp without time zone)
 RETURNS boolean
 LANGUAGE plpgsql
AS $function$
BEGIN
    -- A lock halted already keeps its first reason: the first failure is the one to look at.
    -- lock_id NULL halts every lock; the plugin's event log has no row without a lock, so that
    -- halt goes to the notifications directly.
    -- Taken after every acquire in flight, so that none grants once the halt is in: a lock's
    -- halt waits for its row (which acquires lock first); the fleet's for the table, whose
    -- EXCLUSIVE mode also waits for acquires that have locked a row and not finished yet, and
    -- holds back new ones (and new locks) until it commits. Plain reads go on.
    IF lock_id IS NULL THEN
        LOCK TABLE dlmlocks IN EXCLUSIVE MODE;
    ELSE
        PERFORM 1 FROM dlmlocks l WHERE l.id = lock_id FOR UPDATE;
    END IF;
    INSERT INTO foreman_dlm_halts (dlmlock_id, halted_at, reason, host_id, user_id)
    VALUES (lock_id, at, why, host, acting_user)
        ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;
    ELSIF lock_id IS NULL THEN
        PERFORM foreman_dlm_enqueue('halt', NULL, host, acting_user, at);
    ELSE
        PERFORM foreman_dlm_log_event(lock_id, 'halt', host, acting_user, at);
    END IF;
    RETURN true;
END
$function$;
