COALESCE((SELECT id FROM dlmlocks WHERE id = $2),
                           (SELECT id FROM dlmlocks WHERE name = $3 ORDER BY id LIMIT 1))
