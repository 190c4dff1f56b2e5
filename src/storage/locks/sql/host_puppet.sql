    -- A Puppet certificate names its host by certname, then (as the plugin does) by name.
    -- Neither column is unique in the database, so the lowest id wins among equals.
    SELECT id, name FROM hosts WHERE certname = $1 OR name = $1
     ORDER BY (certname = $1) IS TRUE DESC, id LIMIT 1
