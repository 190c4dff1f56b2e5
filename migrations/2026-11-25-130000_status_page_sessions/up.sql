-- Sessions of the status page (/dlm/): in the database, so that they work across an HA pair and
-- can be revoked (delete the row). The cookie holds a random token; only its SHA-256 is stored.
CREATE TABLE foreman_dlm_sessions (
    token_sha256 text PRIMARY KEY,
    user_id integer NOT NULL,
    -- The token every form of the session carries (CSRF protection).
    csrf_token text NOT NULL,
    -- md5 of the user's password_hash at sign-in: a password change ends the session.
    password_fingerprint text NOT NULL,
    created_at timestamp without time zone NOT NULL,
    last_seen_at timestamp without time zone NOT NULL,
    expires_at timestamp without time zone NOT NULL
);
CREATE INDEX foreman_dlm_sessions_on_user_id ON foreman_dlm_sessions (user_id);
CREATE INDEX foreman_dlm_sessions_on_expires_at ON foreman_dlm_sessions (expires_at);
