-- One batch of an expiry run (see storage::batches): up to $4 events created before $1, in
-- (created_at, id) order after the last event the previous batch deleted ($2, $3). The plugin's
-- index is on created_at alone, so the range starts at $2 and the row comparison skips the
-- events at that instant that were deleted already. `= ANY(ARRAY(…))` makes the batch an init
-- plan: the delete then probes the primary key for exactly those ids.
WITH batch AS MATERIALIZED (
    SELECT e.id, e.created_at AS at
      FROM dlmlock_events e
     WHERE e.created_at < $1
       AND e.created_at >= COALESCE($2, '-infinity'::timestamp)
       AND (e.created_at, e.id) > (COALESCE($2, '-infinity'::timestamp), COALESCE($3, 0))
     ORDER BY e.created_at, e.id
     LIMIT $4
),
gone AS (
    DELETE FROM dlmlock_events WHERE id = ANY(ARRAY(SELECT b.id FROM batch b)) RETURNING 1
)
SELECT (SELECT count(*) FROM gone) AS deleted, last.at, last.id
  FROM (SELECT 1) one
  LEFT JOIN LATERAL (SELECT b.at, b.id FROM batch b ORDER BY b.at DESC, b.id DESC LIMIT 1) last
    ON true
