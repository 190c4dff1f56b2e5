//! Who is calling, as the plugin decides it: on the lock routes a recognised host certificate wins;
//! the admin routes take only Foreman users, so a host certificate alone gets 401 there.

use std::future::{ready, Ready};
use std::net::IpAddr;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpRequest};

use super::error::ApiError;
use super::tls::{TlsPeer, UnixSocketPeer};
use super::AppState;
use crate::identity::users::{BasicCredentials, MalformedLogin, Permission, User};
use crate::identity::{Credential, Presented, Transport};
use crate::metrics::Verification;

/// Everything a request presents as identity, read before any database or CPU-heavy work.
pub struct Credentials {
    presented: Option<Presented>,
    basic: Result<Option<BasicCredentials>, MalformedLogin>,
    /// The client's address: the TCP peer, or — behind Apache — the address Apache appended to
    /// X-Forwarded-For. For rate limits and log lines.
    pub client: Option<IpAddr>,
}

impl FromRequest for Credentials {
    type Error = ApiError;
    type Future = Ready<Result<Credentials, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return ready(Err(ApiError::Internal("application state missing".into())));
        };
        let authenticator = &state.services.certificates;
        let transport = transport(req);
        let presented = match req.conn_data::<TlsPeer>() {
            Some(TlsPeer(cert)) => authenticator.present_peer_certificate(cert.as_deref()),
            None => authenticator.present_headers(transport, req.headers()),
        };
        let client = if authenticator.trusts(transport) {
            forwarded_for(req).or_else(|| req.peer_addr().map(|a| a.ip()))
        } else {
            req.peer_addr().map(|a| a.ip())
        };
        let basic = match req.headers().get(AUTHORIZATION).map(|v| v.to_str()) {
            None => Ok(None),
            Some(Ok(value)) => BasicCredentials::from_header(value),
            Some(Err(_)) => Err(MalformedLogin(
                "the Authorization header is not printable ASCII".into(),
            )),
        };
        ready(Ok(Credentials {
            presented: Some(presented),
            basic,
            client,
        }))
    }
}

fn transport(req: &HttpRequest) -> Transport {
    if req.conn_data::<TlsPeer>().is_some() {
        Transport::Tls
    } else if req.conn_data::<UnixSocketPeer>().is_some() {
        Transport::UnixSocket
    } else {
        match req.peer_addr() {
            Some(addr) => Transport::Tcp(addr.ip()),
            None => Transport::UnixSocket,
        }
    }
}

/// Whether the client reached us over HTTPS: our own TLS listener, or a trusted proxy (Apache)
/// that says so in `X-Forwarded-Proto` (Foreman's vhost sets it). Decides the cookie's `Secure`.
pub fn over_https(req: &HttpRequest, state: &AppState) -> bool {
    match transport(req) {
        Transport::Tls => true,
        transport if state.services.certificates.trusts(transport) => req
            .headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https")),
        _ => false,
    }
}

/// The last X-Forwarded-For entry: the one our own proxy appended (mod_proxy adds the client's
/// address at the end; anything before it the client may have sent itself).
fn forwarded_for(req: &HttpRequest) -> Option<IpAddr> {
    let last = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .last()?;
    last.trim().parse().ok()
}

impl Credentials {
    /// The client certificate's credential; a certificate not verified recently is verified on
    /// the blocking pool, not on this HTTP worker.
    pub async fn certificate(&mut self, state: &AppState) -> Result<Credential, ApiError> {
        match self.presented.take() {
            None => Ok(Credential::Missing {
                reason: "no client certificate".into(),
            }),
            Some(Presented::Decided(credential)) => {
                if matches!(credential, Credential::Verified(_)) {
                    state.services.metrics.certificate(Verification::CacheHit);
                }
                Ok(credential)
            }
            Some(Presented::Unverified { key, cert }) => {
                let authenticator = state.services.certificates.clone();
                let credential = web::block(move || authenticator.verify(key, cert))
                    .await
                    .map_err(|_| ApiError::Internal("certificate verification panicked".into()))?;
                state.services.metrics.certificate(match credential {
                    Credential::Verified(_) => Verification::Verified,
                    Credential::Missing { .. } => Verification::Refused,
                });
                Ok(credential)
            }
        }
    }

    /// Whether the request carries HTTP Basic credentials at all.
    pub fn has_login(&self) -> bool {
        !matches!(self.basic, Ok(None))
    }
}

impl AppState {
    /// A Foreman user by HTTP Basic (password or personal access token). `unknown_subject`: the
    /// verified certificate that matched no host, shown in the 401 as Foreman shows it.
    pub async fn user(
        &self,
        credentials: &Credentials,
        unknown_subject: Option<String>,
    ) -> Result<User, ApiError> {
        let basic = match &credentials.basic {
            Ok(Some(basic)) => basic,
            Ok(None) => {
                return Err(ApiError::Unauthorized {
                    login: unknown_subject,
                })
            }
            Err(malformed) => return Err(ApiError::from(malformed.clone())),
        };
        self.login(basic, credentials.client).await
    }

    /// A login (Basic header or the status page's form) from `client`, failures logged.
    pub async fn login(
        &self,
        basic: &BasicCredentials,
        client: Option<IpAddr>,
    ) -> Result<User, ApiError> {
        self.services
            .users
            .authenticate(basic, client)
            .await
            .map_err(|failure| {
                // The login is quoted (escaping control characters); the secret is never logged.
                log::warn!(
                    "failed login for user {:?} from {}: {failure:?}",
                    basic.login,
                    display_address(client)
                );
                ApiError::from(failure)
            })
    }

    /// The admin routes' guard: the Basic-authenticated user, if they hold `permission`.
    pub async fn user_with(
        &self,
        credentials: &Credentials,
        permission: Permission,
    ) -> Result<User, ApiError> {
        let user = self.user(credentials, None).await?;
        self.require(&user, permission).await?;
        Ok(user)
    }

    /// 403 with Foreman's `missing_permissions` unless `user` holds `permission`.
    pub async fn require(&self, user: &User, permission: Permission) -> Result<(), ApiError> {
        if self.services.users.authorize(user, permission).await? {
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

pub fn display_address(address: Option<IpAddr>) -> String {
    address.map_or_else(|| "an unknown address".to_string(), |ip| ip.to_string())
}
