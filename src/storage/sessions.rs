//! Status page sessions (`foreman_dlm_sessions`): only a token's SHA-256 is stored.

use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer, Nullable, Text, Varchar};
use diesel_async::RunQueryDsl;

use super::sql::sql;
use super::{Conn, StorageError};

/// A live session and its user as Foreman has them now.
#[derive(Debug, Clone, QueryableByName)]
pub struct SessionRow {
    #[diesel(sql_type = Integer)]
    pub user_id: i32,
    #[diesel(sql_type = Nullable<Varchar>)]
    pub login: Option<String>,
    #[diesel(sql_type = Bool)]
    pub admin: bool,
    #[diesel(sql_type = Bool)]
    pub disabled: bool,
    #[diesel(sql_type = Text)]
    pub csrf_token: String,
}

/// Stores a new session (and clears out expired ones).
pub async fn create(
    conn: &mut Conn,
    token_sha256: &str,
    user_id: i32,
    csrf_token: &str,
    idle_minutes: i32,
) -> Result<(), StorageError> {
    sql("DELETE FROM foreman_dlm_sessions WHERE expires_at < now() AT TIME ZONE 'UTC'")
        .execute(conn)
        .await?;
    sql("INSERT INTO foreman_dlm_sessions \
         (token_sha256, user_id, csrf_token, created_at, last_seen_at, expires_at) \
         VALUES ($1, $2, $3, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC', \
                 now() AT TIME ZONE 'UTC' + make_interval(mins => $4))")
    .bind(token_sha256)
    .bind(user_id)
    .bind(csrf_token)
    .bind(idle_minutes)
    .execute(conn)
    .await?;
    Ok(())
}

/// The session of a token if it has not expired, which then lasts `idle_minutes` longer.
pub async fn resume(
    conn: &mut Conn,
    token_sha256: &str,
    idle_minutes: i32,
) -> Result<Option<SessionRow>, StorageError> {
    sql("WITH touched AS ( \
           UPDATE foreman_dlm_sessions s \
              SET last_seen_at = now() AT TIME ZONE 'UTC', \
                  expires_at = now() AT TIME ZONE 'UTC' + make_interval(mins => $2) \
            WHERE s.token_sha256 = $1 AND s.expires_at > now() AT TIME ZONE 'UTC' \
        RETURNING s.user_id, s.csrf_token) \
         SELECT u.id AS user_id, u.login, \
                u.admin OR EXISTS (SELECT 1 FROM cached_usergroup_members m \
                                   JOIN usergroups g ON g.id = m.usergroup_id \
                                   WHERE m.user_id = u.id AND g.admin) AS admin, \
                COALESCE(u.disabled, false) AS disabled, t.csrf_token \
           FROM touched t JOIN users u ON u.id = t.user_id")
    .bind(token_sha256)
    .bind(idle_minutes)
    .get_result(conn)
    .await
    .optional()
    .map_err(StorageError::from)
}

/// Ends a session; whether there was one.
pub async fn end(conn: &mut Conn, token_sha256: &str) -> Result<bool, StorageError> {
    let deleted = sql("DELETE FROM foreman_dlm_sessions WHERE token_sha256 = $1")
        .bind(token_sha256)
        .execute(conn)
        .await?;
    Ok(deleted > 0)
}
