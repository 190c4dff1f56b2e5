-- The current definition of foreman_dlm_lapse_reason: `migrate` applies it whenever this file changes.
CREATE OR REPLACE FUNCTION public.foreman_dlm_lapse_reason(expired integer[])
 RETURNS text
 LANGUAGE sql
 STABLE
AS $function$
    -- "lease of web3.example.com lapsed": the hosts by name, oldest holder first.
    SELECT CASE WHEN cardinality(expired) = 1 THEN 'lease of ' ELSE 'leases of ' END
           || string_agg(COALESCE(h.name, 'host ' || e.host_id), ', ' ORDER BY e.n)
           || ' lapsed'
      FROM unnest(expired) WITH ORDINALITY AS e(host_id, n)
      LEFT JOIN hosts h ON h.id = e.host_id
$function$;
