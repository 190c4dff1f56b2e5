//! Status page sessions: after a login (the same checks, limits and messages as the API), a
//! random token in an HttpOnly cookie names a row in the database, so that a session works on
//! every instance of an HA pair and ends when the row goes (logout, expiry, revocation), when the
//! user is disabled or changes their password, and after a day at most. Each session has its own
//! CSRF token for the page's forms.

use super::users::{LoginFailure, User, UserAuthenticator};
use crate::storage::foreman_settings::{self, SettingValue};
use crate::storage::sessions as store;

/// Foreman's `idle_timeout` default, in minutes.
const DEFAULT_IDLE_MINUTES: i32 = 60;

/// A signed-in user and their session's CSRF token.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub csrf_token: String,
}

impl Session {
    /// Whether a form carried this session's CSRF token (compared in constant time).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        let expected = self.csrf_token.as_bytes();
        presented.len() == expected.len() && openssl::memcmp::eq(presented.as_bytes(), expected)
    }
}

fn random_hex() -> Result<String, LoginFailure> {
    let mut bytes = [0u8; 32];
    openssl::rand::rand_bytes(&mut bytes)
        .map_err(|e| LoginFailure::Internal(format!("no random bytes: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn digest(token: &str) -> String {
    openssl::sha::sha256(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl UserAuthenticator {
    /// Foreman's `idle_timeout` setting (minutes without a request before a session ends).
    async fn idle_minutes(&self, conn: &mut crate::storage::Conn) -> Result<i32, LoginFailure> {
        let values = foreman_settings::values(conn, &["idle_timeout"]).await?;
        Ok(values
            .into_iter()
            .find_map(|(_, value)| match value {
                SettingValue::Integer(n) => i32::try_from(n).ok().filter(|n| *n > 0),
                _ => None,
            })
            .unwrap_or(DEFAULT_IDLE_MINUTES))
    }

    /// A new session for `user`; the returned token goes into the cookie.
    pub async fn start_session(&self, user: &User) -> Result<(String, Session), LoginFailure> {
        let (token, csrf_token) = (random_hex()?, random_hex()?);
        let mut conn = self.db.admin_conn().await?;
        let idle = self.idle_minutes(&mut conn).await?;
        store::create(&mut conn, &digest(&token), user.id, &csrf_token, idle).await?;
        Ok((
            token,
            Session {
                user: user.clone(),
                csrf_token,
            },
        ))
    }

    /// The session a cookie names, if it is live and its user may still sign in with the
    /// password they had. `extend`: the request counts as activity (the page's own auto-refresh
    /// does not, so an unattended page still times out).
    pub async fn session(
        &self,
        token: &str,
        extend: bool,
    ) -> Result<Option<Session>, LoginFailure> {
        if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let mut conn = self.db.admin_conn().await?;
        let idle = self.idle_minutes(&mut conn).await?;
        let Some(row) = store::resume(&mut conn, &digest(token), idle, extend).await? else {
            return Ok(None);
        };
        if row.disabled || row.password_changed {
            store::end(&mut conn, &digest(token)).await?;
            return Ok(None);
        }
        Ok(Some(Session {
            user: User {
                id: row.user_id,
                login: row.login.unwrap_or_default(),
                admin: row.admin,
            },
            csrf_token: row.csrf_token,
        }))
    }

    pub async fn end_session(&self, token: &str) -> Result<(), LoginFailure> {
        let mut conn = self.db.admin_conn().await?;
        store::end(&mut conn, &digest(token)).await?;
        Ok(())
    }
}
