//! Foreman users: HTTP Basic login with a Foreman password or personal access token, and the
//! plugin's permissions resolved from Foreman's RBAC tables.
//!
//! A login borrows a database connection only to read: hashing runs on the [`HashingPool`] with
//! no connection held, so that a flood of logins can neither starve lock requests of CPU nor of
//! connections.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use super::hashing::HashingPool;
use super::login_limits::LoginLimits;
use super::passwords::{
    password_matches, token_candidates, waste_like_a_password_check, HashCosts, PasswordScheme,
};
use crate::settings::ForemanYml;
use crate::settings::{LoginSettings, Secret};
use crate::storage::foreman_settings::{self, SettingValue};
use crate::storage::{users, Database, StorageError};

/// An authenticated Foreman user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i32,
    pub login: String,
    /// `users.admin` or a member of an admin user group: every permission.
    pub admin: bool,
}

/// `Authorization: Basic …` decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicCredentials {
    pub login: String,
    pub secret: Secret,
}

/// A Basic header that names a login no Foreman user can have: refused before any lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedLogin(pub String);

impl BasicCredentials {
    /// Parses an `Authorization` header value: `Ok(None)` unless it is Basic auth at all, an error
    /// for a login that must not reach the database (PostgreSQL text cannot hold NUL).
    pub fn from_header(value: &str) -> Result<Option<BasicCredentials>, MalformedLogin> {
        let Some((scheme, encoded)) = value.trim().split_once(' ') else {
            return Ok(None);
        };
        if !scheme.eq_ignore_ascii_case("basic") {
            return Ok(None);
        }
        let Ok(decoded) = openssl::base64::decode_block(encoded.trim()) else {
            return Ok(None);
        };
        let Ok(text) = String::from_utf8(decoded) else {
            return Err(MalformedLogin("the Basic credentials are not UTF-8".into()));
        };
        let Some((login, secret)) = text.split_once(':') else {
            return Ok(None);
        };
        BasicCredentials::new(login, secret).map(Some)
    }

    /// A login and secret from any source (a Basic header, the status page's form).
    pub fn new(login: &str, secret: &str) -> Result<BasicCredentials, MalformedLogin> {
        if login.chars().any(char::is_control) {
            return Err(MalformedLogin(
                "the login must not contain control characters".into(),
            ));
        }
        Ok(BasicCredentials {
            login: login.to_string(),
            secret: Secret::new(secret),
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
    /// The caller proved to be this LDAP or external-source user (by a valid token), whose
    /// password foreman-dlm cannot check.
    ExternalSource {
        login: String,
        source: String,
    },
    /// Too many failures from this address or for this login.
    RateLimited {
        retry_after: Duration,
    },
    /// Every hashing thread is busy.
    Busy,
    Unavailable(String),
    Internal(String),
}

impl From<StorageError> for LoginFailure {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Unavailable(cause) => LoginFailure::Unavailable(cause),
            StorageError::TimedOut => LoginFailure::Unavailable(e.to_string()),
            StorageError::Query(cause) => LoginFailure::Internal(cause.to_string()),
        }
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

/// Hash settings fixed in Foreman's settings.yaml, which win over the `settings` table there.
#[derive(Debug, Default, Clone)]
struct FileSettings {
    bcrypt: Option<u32>,
    pbkdf2: Option<u32>,
    scheme: Option<PasswordScheme>,
}

/// How Foreman hashes now: token costs and the scheme of new passwords.
#[derive(Debug, Clone, Copy, Default)]
struct HashSettings {
    costs: HashCosts,
    scheme: PasswordScheme,
}

pub struct UserAuthenticator {
    pub(super) db: Database,
    hashing: HashingPool,
    limits: LoginLimits,
    file_settings: FileSettings,
}

impl UserAuthenticator {
    /// Reads `bcrypt_cost`, `pbkdf2_cost` and `password_hash` from Foreman's settings.yaml if it
    /// sets them; a missing or unreadable file just means "not set there".
    pub fn new(db: Database, settings: &LoginSettings, foreman_settings_yml: &Path) -> Self {
        let yml = ForemanYml::load(foreman_settings_yml);
        let file_settings = FileSettings {
            bcrypt: yml.unsigned("bcrypt_cost"),
            pbkdf2: yml.unsigned("pbkdf2_cost"),
            scheme: yml
                .string("password_hash")
                .as_deref()
                .and_then(PasswordScheme::from_setting),
        };
        UserAuthenticator {
            db,
            hashing: HashingPool::new(settings.hashing_threads, settings.hashing_queue),
            limits: LoginLimits::new(
                settings.failures_per_address_per_minute,
                settings.failures_per_login_per_minute,
            ),
            file_settings,
        }
    }

    /// Foreman's `User.try_to_login` for API requests: the secret is tried as a personal access
    /// token first, then as the password of an internally authenticated user. `address` is the
    /// client's, for the rate limits.
    pub async fn authenticate(
        &self,
        credentials: &BasicCredentials,
        address: Option<IpAddr>,
    ) -> Result<User, LoginFailure> {
        let login = credentials.login.as_str();
        self.limits
            .check(address, login)
            .map_err(|retry_after| LoginFailure::RateLimited { retry_after })?;
        let outcome = self.try_login(credentials).await;
        if matches!(
            outcome,
            Err(LoginFailure::BadCredentials { .. } | LoginFailure::ExternalSource { .. })
        ) {
            self.limits.record_failure(address, login);
        }
        outcome
    }

    async fn try_login(&self, credentials: &BasicCredentials) -> Result<User, LoginFailure> {
        let bad = || LoginFailure::BadCredentials {
            login: credentials.login.clone(),
        };
        let lower_login = credentials.login.to_lowercase();
        let secret = credentials.secret.clone();
        let (settings, found) = {
            let mut conn = self.db.admin_conn().await?;
            let settings = self.hash_settings(&mut conn).await?;
            let found = if secret.expose().is_empty() || lower_login.is_empty() {
                None
            } else {
                users::find_by_login(&mut conn, &lower_login).await?
            };
            (settings, found)
        };
        // The same hashing work whoever asks: token candidates for this user (or none), and one
        // password check in the stored scheme, or in the scheme of new passwords.
        let (user_id, stored) = match &found {
            Some(user) if user.auth_source_type.as_deref() == Some("AuthSourceInternal") => (
                user.id,
                user.password_hash.clone().zip(user.password_salt.clone()),
            ),
            Some(user) => (user.id, None),
            None => (0, None),
        };
        let (candidates, password_ok) = self
            .hashing
            .run(move || {
                let candidates = token_candidates(secret.expose(), user_id, settings.costs);
                let password_ok = match stored {
                    Some((hash, salt)) => password_matches(secret.expose(), &hash, &salt),
                    None => {
                        waste_like_a_password_check(
                            secret.expose(),
                            settings.scheme,
                            settings.costs,
                        );
                        false
                    }
                };
                (candidates, password_ok)
            })
            .await
            .map_err(|_| LoginFailure::Busy)?;
        let Some(user) = found else {
            return Err(bad());
        };
        let source = user.auth_source_type.clone().unwrap_or_default();
        let mut conn = self.db.admin_conn().await?;
        let verified = match source.as_str() {
            "AuthSourceInternal" => {
                users::use_active_token(&mut conn, user.id, &candidates).await? || password_ok
            }
            // Foreman's hidden system users have no password and never log in.
            "AuthSourceHidden" | "" => false,
            _ => {
                // LDAP or external: no secret can be checked here. Only a caller who proves to be
                // that user learns why; everyone else gets the wrong-password answer.
                if users::has_active_token(&mut conn, user.id, &candidates).await? {
                    return Err(LoginFailure::ExternalSource {
                        login: user.login.unwrap_or_default(),
                        source,
                    });
                }
                false
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

    async fn hash_settings(
        &self,
        conn: &mut crate::storage::Conn,
    ) -> Result<HashSettings, StorageError> {
        let mut settings = HashSettings::default();
        let names = ["bcrypt_cost", "pbkdf2_cost", "password_hash"];
        for (name, value) in foreman_settings::values(conn, &names).await? {
            match (name.as_str(), value) {
                ("bcrypt_cost", SettingValue::Integer(n)) => {
                    settings.costs.bcrypt = u32::try_from(n).unwrap_or(settings.costs.bcrypt)
                }
                ("pbkdf2_cost", SettingValue::Integer(n)) => {
                    settings.costs.pbkdf2 = u32::try_from(n).unwrap_or(settings.costs.pbkdf2)
                }
                ("password_hash", SettingValue::Text(text)) => {
                    settings.scheme = PasswordScheme::from_setting(&text).unwrap_or_default()
                }
                _ => {}
            }
        }
        let file = &self.file_settings;
        settings.costs.bcrypt = file.bcrypt.unwrap_or(settings.costs.bcrypt).clamp(4, 31);
        settings.costs.pbkdf2 = file.pbkdf2.unwrap_or(settings.costs.pbkdf2).max(1);
        settings.scheme = file.scheme.unwrap_or(settings.scheme);
        Ok(settings)
    }

    /// Whether `user` holds `permission`.
    pub async fn authorize(
        &self,
        user: &User,
        permission: Permission,
    ) -> Result<bool, LoginFailure> {
        if user.admin {
            return Ok(true);
        }
        let mut conn = self.db.admin_conn().await?;
        let granted = users::granted_permissions(&mut conn, user.id, &[permission.name()]).await?;
        Ok(granted.iter().any(|g| g == permission.name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_parsing() {
        let encoded = openssl::base64::encode_block(b"admin:pa:ss word");
        let parsed = BasicCredentials::from_header(&format!("Basic {encoded}"))
            .expect("well-formed")
            .expect("parsed");
        assert_eq!(parsed.login, "admin");
        assert_eq!(parsed.secret.expose(), "pa:ss word");
        assert!(matches!(
            BasicCredentials::from_header(&format!("basic {encoded}")),
            Ok(Some(_))
        ));
        assert_eq!(
            BasicCredentials::from_header(&format!("Bearer {encoded}")),
            Ok(None)
        );
        assert_eq!(BasicCredentials::from_header("Basic !!!"), Ok(None));
        assert_eq!(
            BasicCredentials::from_header(&format!(
                "Basic {}",
                openssl::base64::encode_block(b"nocolon")
            )),
            Ok(None)
        );
        assert!(BasicCredentials::from_header(&format!(
            "Basic {}",
            openssl::base64::encode_block(b"ad\0min:pw")
        ))
        .is_err());
        assert!(
            !format!("{parsed:?}").contains("pa:ss"),
            "Debug never shows the secret"
        );
    }
}
