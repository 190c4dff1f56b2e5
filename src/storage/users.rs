//! Reads Foreman's users, personal access tokens, settings and RBAC tables (never writes them,
//! except a token's `last_used_at`, as Foreman does on every use).

use std::sync::LazyLock;

use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer, Nullable, Varchar};
use diesel_async::RunQueryDsl;

use super::sql::sql;
use super::{Conn, StorageError};

/// Whether the user `u` is an admin as Foreman decides it: `users.admin`, or a member of an admin
/// user group. Logins and status page sessions both ask it.
pub(super) const IS_ADMIN: &str = "(u.admin OR EXISTS (SELECT 1 FROM cached_usergroup_members m \
     JOIN usergroups g ON g.id = m.usergroup_id WHERE m.user_id = u.id AND g.admin))";

static FIND_BY_LOGIN: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT u.id, u.login, {IS_ADMIN} AS admin, COALESCE(u.disabled, false) AS disabled, \
                u.password_hash, u.password_salt, a.type AS auth_source_type \
           FROM users u LEFT JOIN auth_sources a ON a.id = u.auth_source_id \
          WHERE u.lower_login = $1"
    )
});

#[derive(Debug, Clone, QueryableByName)]
pub struct UserRow {
    #[diesel(sql_type = Integer)]
    pub id: i32,
    #[diesel(sql_type = Nullable<Varchar>)]
    pub login: Option<String>,
    /// `users.admin`, or membership in an admin user group.
    #[diesel(sql_type = Bool)]
    pub admin: bool,
    #[diesel(sql_type = Bool)]
    pub disabled: bool,
    #[diesel(sql_type = Nullable<Varchar>)]
    pub password_hash: Option<String>,
    #[diesel(sql_type = Nullable<Varchar>)]
    pub password_salt: Option<String>,
    /// The STI type of the user's auth source: AuthSourceInternal, AuthSourceLdap, …
    #[diesel(sql_type = Nullable<Varchar>)]
    pub auth_source_type: Option<String>,
}

/// Foreman's `User.find_by_login`: case-insensitive through `lower_login`.
pub async fn find_by_login(
    conn: &mut Conn,
    lower_login: &str,
) -> Result<Option<UserRow>, StorageError> {
    sql(FIND_BY_LOGIN.as_str())
        .bind(lower_login)
        .get_result(conn)
        .await
        .optional()
        .map_err(StorageError::from)
}

#[derive(QueryableByName)]
struct TokenId {
    #[diesel(sql_type = Integer)]
    #[allow(dead_code)]
    id: i32,
}

/// Foreman's `PersonalAccessToken.active.find_by(user:, token: any of the candidates)`; on a
/// match, records the use as Foreman does. A NULL `revoked` is not active (Foreman's `revoked =
/// false` does not match it either).
pub async fn use_active_token(
    conn: &mut Conn,
    user_id: i32,
    candidates: &[String],
) -> Result<bool, StorageError> {
    let found: Option<TokenId> = sql("UPDATE personal_access_tokens \
            SET last_used_at = now() AT TIME ZONE 'UTC', updated_at = now() AT TIME ZONE 'UTC' \
          WHERE id = (SELECT id FROM personal_access_tokens \
                       WHERE user_id = $1 AND token = ANY($2) AND revoked = false \
                         AND (expires_at >= now() AT TIME ZONE 'UTC' OR expires_at IS NULL) \
                       ORDER BY id LIMIT 1) \
         RETURNING id")
    .bind(user_id)
    .bind(candidates)
    .get_result(conn)
    .await
    .optional()?;
    Ok(found.is_some())
}

#[derive(QueryableByName)]
struct Granted {
    #[diesel(sql_type = Varchar)]
    name: String,
}

/// Which of `permissions` the user holds through an unlimited filter of one of their roles: the
/// flattened `cached_user_roles` (direct and through user groups) plus the builtin Default role
/// (`roles.builtin = 2`) that every user has. Limited filters (with a search) are not honoured:
/// their scoped-search condition cannot be applied here, so they grant nothing (fail closed).
pub async fn granted_permissions(
    conn: &mut Conn,
    user_id: i32,
    permissions: &[&str],
) -> Result<Vec<String>, StorageError> {
    let wanted: Vec<String> = permissions.iter().map(|p| p.to_string()).collect();
    sql("SELECT DISTINCT p.name FROM permissions p \
           JOIN filterings fg ON fg.permission_id = p.id \
           JOIN filters f ON f.id = fg.filter_id \
          WHERE p.name = ANY($2) \
            AND (f.search IS NULL OR btrim(f.search) = '') AND f.taxonomy_search IS NULL \
            AND f.role_id IN (SELECT role_id FROM cached_user_roles WHERE user_id = $1 \
                              UNION SELECT id FROM roles WHERE builtin = 2)")
    .bind(user_id)
    .bind(wanted)
    .load::<Granted>(conn)
    .await
    .map(|rows| rows.into_iter().map(|g| g.name).collect())
    .map_err(StorageError::from)
}

/// Whether one of `candidates` is an active token of the user, without recording a use: for
/// users whose login is refused anyway.
pub async fn has_active_token(
    conn: &mut Conn,
    user_id: i32,
    candidates: &[String],
) -> Result<bool, StorageError> {
    let found: Option<TokenId> = sql("SELECT id FROM personal_access_tokens \
                       WHERE user_id = $1 AND token = ANY($2) AND revoked = false \
                         AND (expires_at >= now() AT TIME ZONE 'UTC' OR expires_at IS NULL) \
                       ORDER BY id LIMIT 1")
    .bind(user_id)
    .bind(candidates)
    .get_result(conn)
    .await
    .optional()?;
    Ok(found.is_some())
}
