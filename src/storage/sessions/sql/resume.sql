-- A status page session by its token's digest ($1): live if neither idle past its expiry nor
-- older than $4 hours. With $3 (a request by the person, not the page's auto-refresh) it lasts
-- $2 minutes longer. Returns the user as Foreman has them now, and whether their password changed
-- since the sign-in (md5 of users.password_hash then and now).
WITH touched AS (
    UPDATE foreman_dlm_sessions s
       SET last_seen_at = CASE WHEN $3 THEN now() AT TIME ZONE 'UTC' ELSE s.last_seen_at END,
           expires_at = CASE WHEN $3 THEN now() AT TIME ZONE 'UTC' + make_interval(mins => $2)
                             ELSE s.expires_at END
     WHERE s.token_sha256 = $1
       AND s.expires_at > now() AT TIME ZONE 'UTC'
       AND s.created_at > now() AT TIME ZONE 'UTC' - make_interval(hours => $4)
 RETURNING s.user_id, s.csrf_token, s.password_fingerprint
)
SELECT u.id AS user_id, u.login,
       {is_admin} AS admin,
       COALESCE(u.disabled, false) AS disabled, t.csrf_token,
       t.password_fingerprint <> md5(COALESCE(u.password_hash, '')) AS password_changed
  FROM touched t JOIN users u ON u.id = t.user_id
