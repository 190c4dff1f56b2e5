-- The definition before daylight-saving gaps and overlaps were handled.
-- When the next window opens after `at` (UTC), in UTC; NULL without windows.
CREATE OR REPLACE FUNCTION foreman_dlm_next_window(windows jsonb, at timestamp) RETURNS timestamp
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
        SELECT min(o.opens_at)
          FROM jsonb_array_elements(windows) w
         CROSS JOIN LATERAL (
               SELECT ((at AT TIME ZONE 'UTC') AT TIME ZONE (w->>'time_zone'))::date AS today) t
         CROSS JOIN LATERAL generate_series(0, 7) AS d(ahead)
         CROSS JOIN LATERAL (
               SELECT ((t.today + d.ahead + (w->>'start')::time) AT TIME ZONE (w->>'time_zone'))
                      AT TIME ZONE 'UTC' AS opens_at,
                      to_char(t.today + d.ahead, 'dy') AS day) o
         WHERE (jsonb_array_length(w->'days') = 0 OR w->'days' ? o.day)
           AND o.opens_at > at);
END
$$;
