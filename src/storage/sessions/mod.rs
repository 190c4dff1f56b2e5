//! Status page sessions (`foreman_dlm_sessions`): only a token's SHA-256 is stored.

use std::sync::LazyLock;

use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer, Nullable, Text, Varchar};
use diesel_async::RunQueryDsl;

use super::sql::{fill, sql};
use super::users::IS_ADMIN;
use super::{Conn, StorageError};

static RESUME: LazyLock<String> =
    LazyLock::new(|| fill(include_str!("sql/resume.sql"), &[("is_admin", IS_ADMIN)]));

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
    /// The user's password changed since the session began.
    #[diesel(sql_type = Bool)]
    pub password_changed: bool,
}

/// How long a session lasts at most, however busy: a cookie that leaks is not good forever.
pub const MAX_SESSION_HOURS: i32 = 24;

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
         (token_sha256, user_id, csrf_token, password_fingerprint, created_at, last_seen_at, \
          expires_at) \
         SELECT $1, u.id, $3, md5(COALESCE(u.password_hash, '')), now() AT TIME ZONE 'UTC', \
                now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC' + make_interval(mins => $4) \
           FROM users u WHERE u.id = $2")
    .bind(token_sha256)
    .bind(user_id)
    .bind(csrf_token)
    .bind(idle_minutes)
    .execute(conn)
    .await?;
    Ok(())
}

/// The session of a token if it has not expired (idle, or older than [`MAX_SESSION_HOURS`]);
/// with `extend`, it then lasts `idle_minutes` longer (a page's own auto-refresh does not extend).
pub async fn resume(
    conn: &mut Conn,
    token_sha256: &str,
    idle_minutes: i32,
    extend: bool,
) -> Result<Option<SessionRow>, StorageError> {
    sql(RESUME.as_str())
        .bind(token_sha256)
        .bind(idle_minutes)
        .bind(extend)
        .bind(MAX_SESSION_HOURS)
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
