//! The optional direct TLS listener: hosts connect with their client certificate, no Apache.
//!
//! The handshake *requests* a client certificate and accepts whatever is presented; the same
//! `CertificateVerifier` that checks forwarded certificates then decides (chain, dates, CRLs). A
//! refused certificate so gets the API's JSON 401 rather than an opaque TLS alert.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use actix_web::rt::net::{ActixStream, Ready, TcpStream};
use openssl::pkey::PKey;
use openssl::ssl::{SslAcceptor, SslAcceptorBuilder, SslMethod, SslVerifyMode};
use openssl::x509::{X509Name, X509};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::settings::TlsSettings;

/// The client certificate of a TLS connection (None: the client presented none). Present in a
/// request's connection data exactly when the request came over the TLS listener (see
/// `listeners::tls`).
#[derive(Clone)]
pub struct TlsPeer(pub Option<X509>);

/// Present in a request's connection data when the request came over the Unix socket.
#[derive(Clone, Copy)]
pub struct UnixSocketPeer;

/// Open TLS connections per source address, so that one address cannot hold every connection
/// (or every handshake) the service can serve.
#[derive(Clone)]
pub struct ConnectionLimit {
    per_address: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// Counts its connection while the connection lives.
struct Counted {
    address: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        if let Ok(mut open) = self.open.lock() {
            if let Some(count) = open.get_mut(&self.address) {
                *count -= 1;
                if *count == 0 {
                    open.remove(&self.address);
                }
            }
        }
    }
}

impl ConnectionLimit {
    pub fn new(per_address: usize) -> ConnectionLimit {
        ConnectionLimit {
            per_address,
            open: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Counts a connection just accepted; `None` for an address over its limit, whose connection
    /// is then closed (dropped) before anything is read from it.
    pub fn admit(&self, io: TcpStream) -> Option<CountedStream> {
        let address = io.peer_addr().ok()?.ip();
        let mut open = self.open.lock().ok()?;
        let count = open.entry(address).or_insert(0);
        if *count >= self.per_address {
            log::warn!(
                "closing a TLS connection from {address}: it already has {} open",
                self.per_address
            );
            return None;
        }
        *count += 1;
        Some(CountedStream {
            io,
            _counted: Counted {
                address,
                open: self.open.clone(),
            },
        })
    }
}

/// A TLS listener's TCP connection, counted against its address for as long as it is open.
pub struct CountedStream {
    io: TcpStream,
    _counted: Counted,
}

impl CountedStream {
    pub fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        self.io.peer_addr().ok()
    }
}

impl AsyncRead for CountedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

impl ActixStream for CountedStream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<Ready>> {
        ActixStream::poll_read_ready(&self.io, cx)
    }

    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<Ready>> {
        ActixStream::poll_write_ready(&self.io, cx)
    }
}

/// Builds the acceptor from `[tls]`. Unreadable files and a key that does not match the
/// certificate are start-up errors in plain words.
pub fn acceptor(
    tls: &TlsSettings,
    client_ca_files: &[&std::path::PathBuf],
) -> Result<SslAcceptorBuilder, String> {
    let internal = |what: &str| format!("cannot set up TLS: {what}");
    let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())
        .map_err(|_| internal("OpenSSL context"))?;
    readable("tls.cert_file", &tls.cert_file)?;
    builder
        .set_certificate_chain_file(&tls.cert_file)
        .map_err(|_| {
            format!(
                "tls.cert_file {} is not a PEM certificate",
                tls.cert_file.display()
            )
        })?;
    if let Some(chain_file) = &tls.chain_file {
        let pem = readable("tls.chain_file", chain_file)?;
        let chain = X509::stack_from_pem(&pem).map_err(|_| {
            format!(
                "tls.chain_file {} is not a PEM certificate bundle",
                chain_file.display()
            )
        })?;
        for cert in chain {
            builder
                .add_extra_chain_cert(cert)
                .map_err(|_| internal("chain certificate"))?;
        }
    }
    let key_pem = readable("tls.key_file", &tls.key_file)?;
    let key = PKey::private_key_from_pem(&key_pem).map_err(|_| {
        format!(
            "tls.key_file {} is not a PEM private key",
            tls.key_file.display()
        )
    })?;
    let leaf = X509::from_pem(&readable("tls.cert_file", &tls.cert_file)?).map_err(|_| {
        format!(
            "tls.cert_file {} is not a PEM certificate",
            tls.cert_file.display()
        )
    })?;
    if !leaf.public_key().is_ok_and(|public| public.public_eq(&key)) {
        return Err(format!(
            "tls.key_file {} does not match the certificate in tls.cert_file {}",
            tls.key_file.display(),
            tls.cert_file.display()
        ));
    }
    builder
        .set_private_key(&key)
        .map_err(|_| internal("private key"))?;
    builder
        .check_private_key()
        .map_err(|_| internal("private key check"))?;
    // Request, do not require, a client certificate; verification happens in the identity layer.
    builder.set_verify_callback(SslVerifyMode::PEER, |_, _| true);
    // Without a session id context, TLS 1.2 resumption with client certificates fails.
    builder
        .set_session_id_context(b"foreman-dlm")
        .map_err(|_| internal("session id context"))?;
    // Tell clients which CAs we accept, as Apache does from SSLCACertificateFile.
    let mut names = Vec::new();
    for path in client_ca_files {
        let pem = readable("client_cert.ca_files/katello_ca_files", path)?;
        for cert in X509::stack_from_pem(&pem).unwrap_or_default() {
            if let Ok(name) = cert.subject_name().to_owned() {
                names.push(name);
            }
        }
    }
    let mut stack = openssl::stack::Stack::<X509Name>::new().map_err(|_| internal("CA list"))?;
    for name in names {
        stack.push(name).map_err(|_| internal("CA list"))?;
    }
    builder.set_client_ca_list(stack);
    Ok(builder)
}

fn readable(key: &str, path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{key}: cannot read {} ({e})", path.display()))
}
