-- The current definition of foreman_dlm_next_window: `migrate` applies it whenever this file changes.
CREATE OR REPLACE FUNCTION public.foreman_dlm_next_window(windows jsonb, at timestamp without time zone)
 RETURNS timestamp without time zone
 LANGUAGE plpgsql
 STABLE
AS $function$
BEGIN
    RETURN (
        SELECT min(CASE
                   WHEN o.offset_before = o.offset_then THEN c.opens_at
                   ELSE (SELECT min(m.minute)
                           FROM generate_series(
                                    date_trunc('minute',
                                               greatest(at, c.opens_at - interval '3 hours')),
                                    c.opens_at, interval '1 minute') AS m(minute)
                          WHERE m.minute > at
                            AND foreman_dlm_window_open(jsonb_build_array(w), m.minute))
                   END)
          FROM jsonb_array_elements(windows) w
         CROSS JOIN LATERAL (
               SELECT ((at AT TIME ZONE 'UTC') AT TIME ZONE (w->>'time_zone'))::date AS today) t
         CROSS JOIN LATERAL generate_series(0, 14) AS d(ahead)
         CROSS JOIN LATERAL (
               SELECT ((t.today + d.ahead + (w->>'start')::time) AT TIME ZONE (w->>'time_zone'))
                      AT TIME ZONE 'UTC' AS opens_at,
                      to_char(t.today + d.ahead, 'dy') AS day) c
         CROSS JOIN LATERAL (
               SELECT ((c.opens_at AT TIME ZONE 'UTC') AT TIME ZONE (w->>'time_zone'))
                      - c.opens_at AS offset_then,
                      (((c.opens_at - interval '3 hours') AT TIME ZONE 'UTC')
                       AT TIME ZONE (w->>'time_zone'))
                      - (c.opens_at - interval '3 hours') AS offset_before) o
         WHERE (jsonb_array_length(w->'days') = 0 OR w->'days' ? c.day)
           AND c.opens_at > at);
END
$function$;
