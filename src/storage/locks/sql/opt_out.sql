param_host AS (
    -- The opt-out parameter, resolved as Foreman resolves host parameters (lowest precedence
    -- first): global, organization ancestors root→leaf then the organization, the same for the
    -- location, the primary interface's domain, its IPv4 subnet, its IPv6 subnet, the operating
    -- system, host-group ancestors root→leaf then the host group, and the host itself. Ancestry
    -- columns are `/`-separated id paths, and a malformed segment is skipped, not an error.
    SELECT h.id, h.organization_id, h.location_id, h.hostgroup_id, h.operatingsystem_id
      FROM hosts h JOIN host ON h.id = host.id
), primary_nic AS (
    SELECT n.domain_id, n.subnet_id, n.subnet6_id
      FROM nics n JOIN host ON n.host_id = host.id
     WHERE n."primary" ORDER BY n.id LIMIT 1
), chains AS (
    SELECT 'OrganizationParameter'::text AS ptype, 2 AS rank, t.id AS leaf_id, t.ancestry
      FROM param_host JOIN taxonomies t ON t.id = param_host.organization_id
    UNION ALL
    SELECT 'LocationParameter', 3, t.id, t.ancestry
      FROM param_host JOIN taxonomies t ON t.id = param_host.location_id
    UNION ALL
    SELECT 'GroupParameter', 8, g.id, g.ancestry
      FROM param_host JOIN hostgroups g ON g.id = param_host.hostgroup_id
), candidates AS (
    SELECT c.ptype, c.rank, a.depth, a.ref_id
      FROM chains c
     CROSS JOIN LATERAL (
           SELECT CASE WHEN u.segment ~ '^[0-9]{1,9}$' THEN u.segment::int END AS ref_id,
                  u.depth::int AS depth
             FROM unnest(string_to_array(c.ancestry, '/')) WITH ORDINALITY AS u(segment, depth)
           UNION ALL
           SELECT c.leaf_id, 2147483647
     ) a
    UNION ALL SELECT 'DomainParameter', 4, 0, domain_id FROM primary_nic
    UNION ALL SELECT 'SubnetParameter', 5, 0, subnet_id FROM primary_nic
    UNION ALL SELECT 'SubnetParameter', 6, 0, subnet6_id FROM primary_nic
    UNION ALL SELECT 'OsParameter', 7, 0, operatingsystem_id FROM param_host
    UNION ALL SELECT 'HostParameter', 9, 0, id FROM param_host
), found_parameters AS (
    SELECT p.value, c.rank, c.depth
      FROM candidates c
      JOIN parameters p ON p.type = c.ptype AND p.reference_id = c.ref_id AND p.name = '{parameter}'
    UNION ALL
    SELECT p.value, 1, 0
      FROM parameters p
     WHERE p.type = 'CommonParameter' AND p.name = '{parameter}'
), opt_out AS (
    SELECT value FROM found_parameters ORDER BY rank DESC, depth DESC LIMIT 1
)
