-- The current definition of foreman_dlm_window_open: `migrate` applies it whenever this file changes.
CREATE OR REPLACE FUNCTION public.foreman_dlm_window_open(windows jsonb, at timestamp without time zone)
 RETURNS boolean
 LANGUAGE plpgsql
 STABLE
AS $function$
BEGIN
    RETURN jsonb_array_length(windows) = 0 OR EXISTS (
        SELECT 1
          FROM jsonb_array_elements(windows) w
         CROSS JOIN LATERAL (
               SELECT (at AT TIME ZONE 'UTC') AT TIME ZONE (w->>'time_zone') AS local,
                      (w->>'start')::time AS opens, (w->>'end')::time AS closes,
                      jsonb_array_length(w->'days') = 0 AS every_day) t
         WHERE CASE WHEN t.opens < t.closes THEN
                    (t.every_day OR w->'days' ? to_char(t.local, 'dy'))
                    AND t.local::time >= t.opens AND t.local::time < t.closes
               ELSE
                    ((t.every_day OR w->'days' ? to_char(t.local, 'dy'))
                     AND t.local::time >= t.opens)
                    OR ((t.every_day OR w->'days' ? to_char(t.local - interval '1 day', 'dy'))
                        AND t.local::time < t.closes)
               END);
END
$function$;
