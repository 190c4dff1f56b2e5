-- The demo's Foreman: three hosts (db1 opted out of update locks) and an admin whose password is
-- `changeme`. {hosts}, {password_hash} and {password_salt} are filled in by `foreman-dlm demo`.
INSERT INTO hosts (name, managed, type, created_at, updated_at) VALUES {hosts};
INSERT INTO parameters (name, value, reference_id, type, priority, key_type, created_at, updated_at)
SELECT 'can_acquire_update_locks', E'--- false\n', id, 'HostParameter', 70, 'boolean', now(), now()
  FROM hosts WHERE name = 'db1.example.com';
INSERT INTO users (login, lower_login, firstname, lastname, admin, auth_source_id, password_hash,
                   password_salt, created_at, updated_at)
VALUES ('admin', 'admin', 'Demo', 'Admin', true, 1, '{password_hash}', '{password_salt}', now(),
        now());
