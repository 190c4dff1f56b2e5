//! The service's own listeners, built from actix's parts rather than `HttpServer`: the direct TLS
//! listener must count a connection against its address the moment it is accepted, before its
//! handshake, and `HttpServer` offers a hook only after the handshake. A stalled handshake then
//! held one of actix's 256 handshake slots per worker for the whole handshake timeout, and 520
//! idle connections from one address made every other host wait.
//!
//! Each listener hands its connections to the same `App` (see `server::app`), on the same worker
//! threads, with the same timeouts.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use actix_http::{HttpService, Protocol};
use actix_service::{fn_service, map_config, ServiceFactory, ServiceFactoryExt};
use actix_tls::accept::openssl::{Acceptor, TlsStream};
use actix_web::body::MessageBody;
use actix_web::dev::{AppConfig, Extensions, ServiceRequest, ServiceResponse};
use actix_web::rt::net::{TcpStream, UnixStream};
use actix_web::App;
use openssl::ssl::SslAcceptor;
use tokio::io::{AsyncRead, AsyncWrite};

use super::tls::{ConnectionLimit, CountedStream, TlsPeer, UnixSocketPeer};

/// What `App` builds: the application's service factory, whose responses carry bodies of `B`.
pub trait AppFactory<B>:
    ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<B>,
        Error = actix_web::Error,
        InitError = (),
    > + 'static
{
}

impl<T, B> AppFactory<B> for T where
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static
{
}

/// How long clients have, for every listener.
#[derive(Clone, Copy)]
pub struct Timeouts {
    /// To send the request line and headers.
    pub request: Duration,
    /// To close the connection once the response is sent.
    pub disconnect: Duration,
    /// To complete a TLS handshake.
    pub handshake: Duration,
}

/// A TCP listener with the listen queue `HttpServer` would give it (std's is 128).
pub fn tcp_listener(addr: &SocketAddr) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(addr)?;
    nix::sys::socket::listen(&listener, nix::sys::socket::Backlog::new(1024)?)?;
    Ok(listener)
}

/// HTTP/1.1 on connections of type `T`, into `app`, with `mark` putting what the handlers need to
/// know about the connection into its data. A client that closes its side has gone: its request's
/// future is dropped, which cancels the statement a search was waiting for (see
/// `storage::pool`), instead of running it to its end.
pub fn http<T, S, B>(
    app: App<S>,
    timeouts: Timeouts,
    mark: impl Fn(&T, &mut Extensions) + 'static,
) -> impl ServiceFactory<
    (T, Protocol, Option<SocketAddr>),
    Config = (),
    Response = (),
    Error = (),
    InitError = (),
>
where
    T: AsyncRead + AsyncWrite + Unpin + 'static,
    S: AppFactory<B>,
    B: MessageBody + 'static,
{
    let app = actix_service::IntoServiceFactory::into_factory(app)
        .map_err(|error: actix_web::Error| error.error_response());
    HttpService::build()
        .client_request_timeout(timeouts.request)
        .client_disconnect_timeout(timeouts.disconnect)
        .h1_allow_half_closed(false)
        .on_connect_ext(mark)
        .finish(map_config(app, |_| AppConfig::default()))
        .map_err(|e| log::debug!("connection ended: {e}"))
}

/// Plain HTTP over TCP (Apache on a TCP `http.listen`).
pub fn plain<S, B>(
    app: App<S>,
    timeouts: Timeouts,
) -> impl ServiceFactory<TcpStream, Config = (), Response = (), Error = (), InitError = ()>
where
    S: AppFactory<B>,
    B: MessageBody + 'static,
{
    fn_service(|io: TcpStream| async move {
        let peer = io.peer_addr().ok();
        Ok((io, Protocol::Http1, peer))
    })
    .and_then(http(app, timeouts, |_: &TcpStream, _: &mut Extensions| {}))
}

/// Plain HTTP over the Unix socket: what arrives here comes from Apache.
pub fn unix<S, B>(
    app: App<S>,
    timeouts: Timeouts,
) -> impl ServiceFactory<UnixStream, Config = (), Response = (), Error = (), InitError = ()>
where
    S: AppFactory<B>,
    B: MessageBody + 'static,
{
    fn_service(|io: UnixStream| async move { Ok((io, Protocol::Http1, None)) }).and_then(http(
        app,
        timeouts,
        |_: &UnixStream, data: &mut Extensions| {
            data.insert(UnixSocketPeer);
        },
    ))
}

/// TLS with client certificates: a connection is counted against its address when it is
/// accepted, and closed at once when the address holds `tls.max_connections_per_address`
/// (handshakes included). A handshake gets `tls.handshake_timeout_seconds`: a host's takes
/// milliseconds, and a connection that sends nothing holds its address's count meanwhile. The
/// peer certificate (on a resumed TLS 1.2 session OpenSSL restores it from the session) goes into
/// the connection's data.
pub fn tls<S, B>(
    app: App<S>,
    timeouts: Timeouts,
    acceptor: SslAcceptor,
    limit: ConnectionLimit,
) -> impl ServiceFactory<TcpStream, Config = (), Response = (), Error = (), InitError = ()>
where
    S: AppFactory<B>,
    B: MessageBody + 'static,
{
    let mut handshake = Acceptor::new(acceptor);
    handshake.set_handshake_timeout(timeouts.handshake);
    fn_service(move |io: TcpStream| {
        let admitted = limit.admit(io).ok_or(());
        async move { admitted }
    })
    .and_then(handshake.map_err(|e| log::debug!("TLS handshake failed: {e:?}")))
    .and_then(fn_service(|io: TlsStream<CountedStream>| async move {
        let peer = io.get_ref().peer_addr();
        Ok((io, Protocol::Http1, peer))
    }))
    .and_then(http(
        app,
        timeouts,
        |io: &TlsStream<CountedStream>, data: &mut Extensions| {
            data.insert(TlsPeer(io.ssl().peer_certificate()));
        },
    ))
}
