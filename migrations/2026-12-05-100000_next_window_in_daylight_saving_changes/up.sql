-- When the next window opens after `at` (UTC), in UTC: the first instant at which a window is
-- really open; NULL without windows.
--
-- A window's local start becomes UTC by its zone's rules, which is exact except next to a
-- daylight-saving change. A start inside the spring-forward gap does not exist, and PostgreSQL
-- reads it as standard time: an hour late, or (for a window wholly inside the gap) at a moment
-- the window is already over. A start inside the fall-back overlap happens twice, and PostgreSQL
-- takes the later one. So where the zone's offset changes in the three hours before a start, the
-- start is found again minute by minute: the first minute after `at` in those three hours at
-- which the window is open (none: the window does not open that day). Elsewhere the start is
-- taken as it is, at the cost of two offset look-ups. Two weeks of days are tried: a weekly
-- window inside a gap next opens a week later.
CREATE OR REPLACE FUNCTION foreman_dlm_next_window(windows jsonb, at timestamp) RETURNS timestamp
LANGUAGE plpgsql STABLE AS $$
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
$$;
