//! Who is calling: a host (client certificate) or a Foreman user (HTTP Basic), as the plugin
//! decides it: on the lock routes a recognised host certificate wins; the admin routes take only
//! Foreman users, so a host certificate alone gets 401 there.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpRequest};
use diesel::pg::PgConnection;

use super::error::ApiError;
use super::tls::TlsPeer;
use super::{AppState, Services};
use crate::identity::users::{authorize, BasicCredentials, Permission, User};
use crate::identity::{Credential, Host};

/// Everything a request presents as identity, read before any database work.
pub struct Credentials {
    certificate: Credential,
    basic: Option<BasicCredentials>,
    /// For log lines about failed logins; formatted only when such a line is written.
    peer: Peer,
}

struct Peer(Option<std::net::IpAddr>);

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(ip) => write!(f, "{ip}"),
            None => f.write_str("unknown"),
        }
    }
}

impl FromRequest for Credentials {
    type Error = ApiError;
    type Future = Ready<Result<Credentials, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return ready(Err(ApiError::Internal("application state missing".into())));
        };
        let peer = req.peer_addr().map(|a| a.ip());
        let authenticator = &state.services.certificates;
        // On the TLS listener only the handshake's certificate counts; elsewhere the headers of a
        // trusted proxy.
        let certificate = match req.conn_data::<TlsPeer>() {
            Some(TlsPeer(cert)) => authenticator.credential_from_peer_certificate(cert.as_deref()),
            None => authenticator.credential_from_headers(peer, req.headers()),
        };
        let basic = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(BasicCredentials::from_header);
        ready(Ok(Credentials {
            certificate,
            basic,
            peer: Peer(peer),
        }))
    }
}

pub enum Caller {
    Host(Host),
    User(User),
}

impl Services {
    /// The lock routes' caller: a host identified by its certificate (its check-in recorded), else
    /// a Foreman user.
    pub fn host_or_user(
        &self,
        conn: &mut PgConnection,
        credentials: &Credentials,
    ) -> Result<Caller, ApiError> {
        let mut unknown_subject = None;
        match &credentials.certificate {
            Credential::Verified { subject } => {
                match self.certificates.find_host_checking_in(conn, subject)? {
                    Some(host) => return Ok(Caller::Host(host)),
                    None => {
                        log::info!(
                            "certificate {subject:?} from {} matches no host",
                            credentials.peer
                        );
                        unknown_subject = Some(subject.clone());
                    }
                }
            }
            Credential::Missing { reason } if credentials.basic.is_none() => {
                log::info!(
                    "request from {} without identity ({reason})",
                    credentials.peer
                );
            }
            Credential::Missing { .. } => {}
        }
        if credentials.basic.is_none() {
            return Err(ApiError::Unauthorized {
                login: unknown_subject,
            });
        }
        self.user(conn, credentials).map(Caller::User)
    }

    /// The admin routes' caller: a Foreman user by HTTP Basic (password or personal access token).
    pub fn user(
        &self,
        conn: &mut PgConnection,
        credentials: &Credentials,
    ) -> Result<User, ApiError> {
        let Some(basic) = &credentials.basic else {
            return Err(ApiError::Unauthorized { login: None });
        };
        self.users.authenticate(conn, basic).map_err(|failure| {
            // The login is quoted (escaping control characters); the secret is never logged.
            log::warn!(
                "failed login for user {:?} from {}: {failure:?}",
                basic.login,
                credentials.peer
            );
            ApiError::from(failure)
        })
    }

    /// The admin routes' guard: the Basic-authenticated user, if they hold `permission`.
    pub fn user_with(
        &self,
        conn: &mut PgConnection,
        credentials: &Credentials,
        permission: Permission,
    ) -> Result<User, ApiError> {
        let user = self.user(conn, credentials)?;
        self.require(conn, &user, permission)?;
        Ok(user)
    }

    /// 403 with Foreman's `missing_permissions` unless `user` holds `permission`.
    pub fn require(
        &self,
        conn: &mut PgConnection,
        user: &User,
        permission: Permission,
    ) -> Result<(), ApiError> {
        if authorize(conn, user, permission)? {
            return Ok(());
        }
        log::info!("user {:?} lacks {}", user.login, permission.name());
        Err(ApiError::Forbidden {
            missing_permission: Some(permission.name()),
            details: format!(
                "Missing one of the required permissions: {}",
                permission.name()
            ),
        })
    }
}
