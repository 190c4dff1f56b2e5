-- The current definition of foreman_dlm_release: `migrate` applies it whenever this file changes.
CREATE OR REPLACE FUNCTION public.foreman_dlm_release(lock_id integer, caller integer, max_holders integer, lease_seconds integer, at timestamp without time zone, acting_user integer, OUT outcome text, OUT enabled boolean, OUT updated_at timestamp without time zone, OUT holders text)
 RETURNS record
 LANGUAGE plpgsql
AS $function$
DECLARE
    target dlmlocks;
BEGIN
    SELECT * INTO target FROM dlmlocks l WHERE l.id = lock_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    ELSIF target.host_id IS DISTINCT FROM caller OR NOT target.enabled
          OR lease_seconds IS NOT NULL THEN
        SELECT * INTO outcome, enabled, updated_at, holders
          FROM foreman_dlm_release_held(lock_id, caller, max_holders, lease_seconds, at,
                                        acting_user);
        RETURN;
    END IF;
    -- The plugin's holder releases; without a lease nobody's slot has run out, so the others
    -- (if the lock has more slots) keep theirs and the oldest of them becomes the plugin's holder.
    outcome := 'released';
    enabled := true;
    -- One statement, as in foreman_dlm_acquire; its parts share one snapshot, so the next holder
    -- is looked for among the rows other than the caller's.
    WITH released AS (
        DELETE FROM foreman_dlm_lock_holders h
         WHERE h.dlmlock_id = target.id AND h.host_id = caller
    ), event AS (
        INSERT INTO dlmlock_events (dlmlock_id, event_type, host_id, user_id, created_at,
                                    updated_at)
        VALUES (target.id, 'release', caller, acting_user, at, at)
    )
    UPDATE dlmlocks l
       SET host_id = (SELECT h.host_id FROM foreman_dlm_lock_holders h
                       WHERE h.dlmlock_id = target.id AND h.host_id <> caller
                       ORDER BY h.acquired_at, h.host_id LIMIT 1),
           updated_at = at
     WHERE l.id = target.id
 RETURNING l.host_id, l.updated_at INTO target.host_id, updated_at;
    holders := CASE WHEN target.host_id IS NULL THEN '[]'
                    ELSE foreman_dlm_holders_json(target.id, target.host_id, updated_at,
                                                  lease_seconds, at) END;
END
$function$;
