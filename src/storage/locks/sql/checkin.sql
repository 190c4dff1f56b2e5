checked_in AS (
    -- Every host request records the host's check-in, as the plugin does.
    UPDATE dlm_facets f
       SET last_checkin_at = now() AT TIME ZONE 'UTC', updated_at = now() AT TIME ZONE 'UTC'
      FROM host WHERE f.host_id = host.id
 RETURNING f.host_id
), first_checkin AS (
    -- First contact: the facet is created, and the unique index makes a concurrent twin a no-op.
    INSERT INTO dlm_facets (host_id, last_checkin_at, created_at, updated_at)
    SELECT host.id, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
      FROM host WHERE NOT EXISTS (SELECT 1 FROM checked_in)
        ON CONFLICT DO NOTHING
)
