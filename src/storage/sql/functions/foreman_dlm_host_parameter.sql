-- The current definition of foreman_dlm_host_parameter: `migrate` applies it whenever this file changes.
CREATE OR REPLACE FUNCTION public.foreman_dlm_host_parameter(for_host integer, for_organization integer, for_location integer, for_hostgroup integer, for_operatingsystem integer, parameter_name text)
 RETURNS TABLE(value text)
 LANGUAGE sql
 STABLE
AS $function$
    SELECT f.value
      FROM (
            SELECT p.value, c.rank, c.depth
              FROM (
                    SELECT ch.ptype, ch.rank, a.depth, a.ref_id
                      FROM (
                            SELECT 'OrganizationParameter'::text AS ptype, 2 AS rank,
                                   t.id AS leaf_id, t.ancestry
                              FROM taxonomies t WHERE t.id = for_organization
                            UNION ALL
                            SELECT 'LocationParameter', 3, t.id, t.ancestry
                              FROM taxonomies t WHERE t.id = for_location
                            UNION ALL
                            SELECT 'GroupParameter', 8, g.id, g.ancestry
                              FROM hostgroups g WHERE g.id = for_hostgroup
                           ) ch
                     CROSS JOIN LATERAL (
                           SELECT CASE WHEN u.segment ~ '^[0-9]{1,9}$'
                                       THEN u.segment::int END AS ref_id,
                                  u.depth::int AS depth
                             FROM unnest(string_to_array(ch.ancestry, '/'))
                                  WITH ORDINALITY AS u(segment, depth)
                           UNION ALL
                           SELECT ch.leaf_id, 2147483647
                     ) a
                    UNION ALL
                    SELECT v.ptype, v.rank, 0, v.ref_id
                      FROM (SELECT n.domain_id, n.subnet_id, n.subnet6_id
                              FROM nics n
                             WHERE n.host_id = for_host AND n."primary"
                             ORDER BY n.id LIMIT 1) nic
                     CROSS JOIN LATERAL (VALUES ('DomainParameter'::text, 4, nic.domain_id),
                                                ('SubnetParameter', 5, nic.subnet_id),
                                                ('SubnetParameter', 6, nic.subnet6_id))
                           AS v(ptype, rank, ref_id)
                    UNION ALL
                    SELECT 'OsParameter', 7, 0, for_operatingsystem
                    UNION ALL
                    SELECT 'HostParameter', 9, 0, for_host
                   ) c
              JOIN parameters p
                ON p.type = c.ptype AND p.reference_id = c.ref_id AND p.name = parameter_name
            UNION ALL
            SELECT p.value, 1, 0
              FROM parameters p
             WHERE p.type = 'CommonParameter' AND p.name = parameter_name
           ) f
     ORDER BY f.rank DESC, f.depth DESC
     LIMIT 1
$function$;
