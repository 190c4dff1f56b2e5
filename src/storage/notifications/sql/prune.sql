-- One batch of outbox pruning (see storage::batches): up to $4 notifications whose {column} is
-- before $1, in ({column}, id) order after the last one the previous batch deleted ($2, $3),
-- along the partial index on ({column}, id).
WITH batch AS MATERIALIZED (
    SELECT n.id, n.{column} AS at
      FROM foreman_dlm_notifications n
     WHERE n.{column} IS NOT NULL AND n.{column} < $1
       AND (n.{column}, n.id) > (COALESCE($2, '-infinity'::timestamp), COALESCE($3, 0))
     ORDER BY n.{column}, n.id
     LIMIT $4
),
gone AS (
    DELETE FROM foreman_dlm_notifications
     WHERE id = ANY(ARRAY(SELECT b.id FROM batch b)) RETURNING 1
)
SELECT (SELECT count(*) FROM gone) AS deleted, last.at, last.id
  FROM (SELECT 1) one
  LEFT JOIN LATERAL (SELECT b.at, b.id FROM batch b ORDER BY b.at DESC, b.id DESC LIMIT 1) last
    ON true
