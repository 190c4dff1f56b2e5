-- A new lock, free. The unique index on names turns a concurrent creator's twin into no row at
-- all; names the index leaves out (duplicated before foreman-dlm) exist already, so NOT EXISTS
-- stops them. A host's first acquire creates the lock free and then acquires it like any other,
-- so the policy for its name applies from the start.
INSERT INTO dlmlocks (name, type, enabled, host_id, created_at, updated_at)
SELECT $1, $2, $3, NULL, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
 WHERE NOT EXISTS (SELECT 1 FROM dlmlocks WHERE name = $1)
    ON CONFLICT DO NOTHING
RETURNING id
