-- Unique indexes that let a lock and a host's check-in facet be created by ONE statement
-- (`INSERT … ON CONFLICT DO NOTHING`) without two concurrent creators making two rows, and without
-- an advisory lock and its extra round trips.
--
-- The plugin's tables may already hold duplicates (its uniqueness was a Rails validation only).
-- Those rows are kept: the index then leaves out exactly the names (host ids) that are duplicated
-- today, so it can be built, and covers every other value. For a left-out value the oldest row is
-- the one every request uses, as before.
DO $$
DECLARE
    duplicated text;
BEGIN
    SELECT string_agg(quote_literal(name), ', ') INTO duplicated
      FROM (SELECT name FROM dlmlocks GROUP BY name HAVING count(*) > 1) d;
    IF duplicated IS NULL THEN
        EXECUTE 'CREATE UNIQUE INDEX foreman_dlm_unique_lock_names ON dlmlocks (name)';
    ELSE
        EXECUTE 'CREATE UNIQUE INDEX foreman_dlm_unique_lock_names ON dlmlocks (name) '
             || 'WHERE name NOT IN (' || duplicated || ')';
    END IF;

    SELECT string_agg(host_id::text, ', ') INTO duplicated
      FROM (SELECT host_id FROM dlm_facets GROUP BY host_id HAVING count(*) > 1) d;
    IF duplicated IS NULL THEN
        EXECUTE 'CREATE UNIQUE INDEX foreman_dlm_unique_facet_hosts ON dlm_facets (host_id)';
    ELSE
        EXECUTE 'CREATE UNIQUE INDEX foreman_dlm_unique_facet_hosts ON dlm_facets (host_id) '
             || 'WHERE host_id NOT IN (' || duplicated || ')';
    END IF;
END
$$;
