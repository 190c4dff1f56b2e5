-- A lock and its events in one statement (holders and policy go with it by their foreign keys).
WITH gone AS (
    DELETE FROM dlmlocks WHERE id = $1
 RETURNING id
), events AS (
    DELETE FROM dlmlock_events WHERE dlmlock_id IN (SELECT id FROM gone)
)
SELECT id FROM gone
