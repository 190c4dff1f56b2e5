    -- A subscription-manager consumer certificate names its host by consumer uuid. The uuid
    -- index is not unique: like Katello, the first facet wins.
    SELECT h.id, h.name FROM katello_subscription_facets f JOIN hosts h ON h.id = f.host_id
     WHERE f.uuid = $1 ORDER BY f.id LIMIT 1
