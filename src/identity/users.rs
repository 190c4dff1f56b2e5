//! Foreman users: HTTP Basic login with a Foreman password or personal access token, and the
//! plugin's permissions resolved from Foreman's RBAC tables.

use std::path::Path;

use diesel::pg::PgConnection;

use super::passwords::{
    password_matches, token_candidates, waste_like_a_password_check, HashCosts,
};
use crate::storage::{foreman_settings, users, StorageError, StorageFailure};

/// An authenticated Foreman user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i32,
    pub login: String,
    /// `users.admin` or a member of an admin user group: every permission.
    pub admin: bool,
}

/// `Authorization: Basic …` decoded.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicCredentials {
    pub login: String,
    pub secret: String,
}

impl std::fmt::Debug for BasicCredentials {
    /// Never prints the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BasicCredentials {{ login: {:?} }}", self.login)
    }
}

impl BasicCredentials {
    /// Parses an `Authorization` header value; `None` unless it is well-formed Basic auth.
    pub fn from_header(value: &str) -> Option<BasicCredentials> {
        let (scheme, encoded) = value.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = openssl::base64::decode_block(encoded.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (login, secret) = text.split_once(':')?;
        Some(BasicCredentials {
            login: login.to_string(),
            secret: secret.to_string(),
        })
    }
}

/// Why a login failed. Unknown users and wrong secrets are deliberately one case.
#[derive(Debug)]
pub enum LoginFailure {
    BadCredentials {
        login: String,
    },
    /// Verified, but `users.disabled`.
    Disabled,
    /// The user's auth source (LDAP, external SSO) checks passwords elsewhere.
    ExternalSource {
        login: String,
        source: String,
    },
    Storage(StorageError),
}

impl From<StorageError> for LoginFailure {
    fn from(e: StorageError) -> Self {
        LoginFailure::Storage(e)
    }
}

impl StorageFailure for LoginFailure {
    fn is_unavailable(&self) -> bool {
        matches!(self, LoginFailure::Storage(e) if e.is_unavailable())
    }
}

/// The plugin's permissions (lib/foreman_dlm/engine.rb).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    ViewLocks,
    CreateLocks,
    EditLocks,
    DestroyLocks,
    ViewLockEvents,
}

impl Permission {
    pub fn name(self) -> &'static str {
        match self {
            Permission::ViewLocks => "view_dlmlocks",
            Permission::CreateLocks => "create_dlmlocks",
            Permission::EditLocks => "edit_dlmlocks",
            Permission::DestroyLocks => "destroy_dlmlocks",
            Permission::ViewLockEvents => "view_dlmlock_events",
        }
    }
}

/// Authenticates Foreman users. Holds the hash costs fixed in Foreman's settings.yaml, which take
/// precedence over the `settings` table as in Foreman.
#[derive(Debug, Default)]
pub struct UserAuthenticator {
    file_costs: FileCosts,
}

#[derive(Debug, Default, Clone, Copy)]
struct FileCosts {
    bcrypt: Option<u32>,
    pbkdf2: Option<u32>,
}

impl UserAuthenticator {
    /// Reads `bcrypt_cost`/`pbkdf2_cost` from Foreman's settings.yaml if it sets them; a missing
    /// or unreadable file just means "not set there".
    pub fn new(foreman_settings_yml: &Path) -> UserAuthenticator {
        let file_costs = std::fs::read_to_string(foreman_settings_yml)
            .ok()
            .and_then(|text| yaml_rust2::YamlLoader::load_from_str(&text).ok())
            .and_then(|docs| docs.into_iter().next())
            .map(|doc| {
                let cost = |key: &str| {
                    doc[format!(":{key}").as_str()]
                        .as_i64()
                        .or_else(|| doc[key].as_i64())
                        .and_then(|n| u32::try_from(n).ok())
                };
                FileCosts {
                    bcrypt: cost("bcrypt_cost"),
                    pbkdf2: cost("pbkdf2_cost"),
                }
            })
            .unwrap_or_default();
        UserAuthenticator { file_costs }
    }

    /// Foreman's `User.try_to_login` for API requests: the secret is tried as a personal access
    /// token first, then as the password of an internally authenticated user.
    pub fn authenticate(
        &self,
        conn: &mut PgConnection,
        credentials: &BasicCredentials,
    ) -> Result<User, LoginFailure> {
        let bad = || LoginFailure::BadCredentials {
            login: credentials.login.clone(),
        };
        let costs = self.costs(conn)?;
        let secret = credentials.secret.as_str();
        let lower_login = credentials.login.to_lowercase();
        let found = if secret.is_empty() || lower_login.is_empty() {
            None
        } else {
            users::find_by_login(conn, &lower_login)?
        };
        let Some(user) = found else {
            // The same work as for a real user, so that timing does not reveal the login exists.
            let _ = token_candidates(secret, 0, costs);
            waste_like_a_password_check(secret, costs.bcrypt);
            return Err(bad());
        };
        let source = user.auth_source_type.clone().unwrap_or_default();
        let candidates = token_candidates(secret, user.id, costs);
        let verified = match source.as_str() {
            "AuthSourceInternal" => {
                users::use_active_token(conn, user.id, &candidates)?
                    || match (&user.password_hash, &user.password_salt) {
                        (Some(hash), Some(salt)) => password_matches(secret, hash, salt),
                        _ => {
                            waste_like_a_password_check(secret, costs.bcrypt);
                            false
                        }
                    }
            }
            // Foreman's hidden system users have no password and never log in.
            "AuthSourceHidden" | "" => {
                waste_like_a_password_check(secret, costs.bcrypt);
                false
            }
            _ => {
                waste_like_a_password_check(secret, costs.bcrypt);
                return Err(LoginFailure::ExternalSource {
                    login: user.login.unwrap_or_default(),
                    source,
                });
            }
        };
        if !verified {
            return Err(bad());
        }
        if user.disabled {
            return Err(LoginFailure::Disabled);
        }
        Ok(User {
            id: user.id,
            login: user.login.unwrap_or_default(),
            admin: user.admin,
        })
    }

    fn costs(&self, conn: &mut PgConnection) -> Result<HashCosts, StorageError> {
        let mut costs = HashCosts::default();
        for (name, value) in foreman_settings::integers(conn, &["bcrypt_cost", "pbkdf2_cost"])? {
            let Ok(value) = u32::try_from(value) else {
                continue;
            };
            match name.as_str() {
                "bcrypt_cost" => costs.bcrypt = value,
                "pbkdf2_cost" => costs.pbkdf2 = value,
                _ => {}
            }
        }
        costs.bcrypt = self.file_costs.bcrypt.unwrap_or(costs.bcrypt).clamp(4, 31);
        costs.pbkdf2 = self.file_costs.pbkdf2.unwrap_or(costs.pbkdf2).max(1);
        Ok(costs)
    }
}

/// Whether `user` holds `permission`; the missing permission otherwise.
pub fn authorize(
    conn: &mut PgConnection,
    user: &User,
    permission: Permission,
) -> Result<bool, StorageError> {
    if user.admin {
        return Ok(true);
    }
    let granted = users::granted_permissions(conn, user.id, &[permission.name()])?;
    Ok(granted.iter().any(|g| g == permission.name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_parsing() {
        let encoded = openssl::base64::encode_block(b"admin:pa:ss word");
        let parsed = BasicCredentials::from_header(&format!("Basic {encoded}")).expect("parsed");
        assert_eq!(parsed.login, "admin");
        assert_eq!(parsed.secret, "pa:ss word");
        assert!(BasicCredentials::from_header(&format!("basic {encoded}")).is_some());
        assert!(BasicCredentials::from_header(&format!("Bearer {encoded}")).is_none());
        assert!(BasicCredentials::from_header("Basic !!!").is_none());
        assert!(BasicCredentials::from_header(&format!(
            "Basic {}",
            openssl::base64::encode_block(b"nocolon")
        ))
        .is_none());
        assert!(
            !format!("{parsed:?}").contains("pa:ss"),
            "Debug never shows the secret"
        );
    }
}
